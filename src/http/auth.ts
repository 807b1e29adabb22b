import type { FastifyReply, FastifyRequest } from 'fastify';
import { hashSecret } from '../adapters/secrets.js';
import { AppError } from '../errors.js';
import type { AuthFailureGuard } from '../services/auth-failures.js';
import { type Authenticator, type Principal, type RequestContext, type Scope, insufficientScope } from '../services/auth.js';
import { routeOf } from './route-of.js';
import { headerCount } from './raw-headers.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route requires; routes without one are public (health, docs). */
    scope?: Scope;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

const BEARER = /^Bearer +([\x21-\x7e]{1,4096})$/i;
const BEARER_SCHEME = /^\s*Bearer(\s|$)/i;

/**
 * 401 with RFC 6750 §3.1's challenge: no error code when no Bearer credential was offered (none,
 * or another scheme); `invalid_request` for a malformed one; `invalid_token` for one that fails.
 */
function unauthorized(message: string, error?: 'invalid_request' | 'invalid_token'): AppError {
  const challenge = error ? `Bearer realm="roster", error="${error}", error_description="${message}"` : 'Bearer realm="roster"';
  return new AppError('unauthorized', message, undefined, { 'www-authenticate': challenge });
}

interface AuthOptions {
  authenticator: Authenticator;
  authFailures: AuthFailureGuard;
}

/**
 * onRequest: resolves the bearer credential of a route that requires a scope, before the body is
 * read, so a caller without a credential learns nothing about the body's validity. Failed
 * attempts are limited per client address, against guessing.
 */
export function authenticate({ authenticator, authFailures }: AuthOptions) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!routeOf(request).config.scope) return;
    const header = request.headers.authorization;
    if (header === undefined) throw unauthorized('Missing credential: send Authorization: Bearer <API key or access token>');
    // Node keeps the first Authorization; a proxy may pick another: two would name different callers.
    const repeated = headerCount(request.raw.rawHeaders, 'authorization') > 1;
    const match = repeated ? null : BEARER.exec(header);
    const fingerprint = match ? hashSecret(match[1]) : null;
    const attempt = await authFailures.begin(request.ip, fingerprint);
    if (attempt.wait > 0) {
      throw new AppError('rate_limit_exceeded', 'Too many failed authentication attempts from this address', undefined, { 'retry-after': String(attempt.wait) });
    }
    const principal = match && fingerprint ? await authFailures.check(request.ip, attempt, () => authenticator.authenticate(match[1], fingerprint)) : null;
    // A failure keeps the unit its attempt took.
    if (!principal) {
      if (match) throw unauthorized('Invalid, expired or revoked credential', 'invalid_token');
      if (repeated) throw unauthorized('Send one Authorization header, not several', 'invalid_request');
      if (!BEARER_SCHEME.test(header)) throw unauthorized('Unsupported authorization scheme: send Authorization: Bearer <API key or access token>');
      throw unauthorized('Malformed Authorization header: expected Bearer <credential>', 'invalid_request');
    }
    await authFailures.succeeded(request.ip, fingerprint!, attempt);
    request.principal = principal;
  };
}

/** onRequest, after the rate limit: the route's scope, else 403 naming it. */
export async function authorize(request: FastifyRequest): Promise<void> {
  const scope = routeOf(request).config.scope;
  if (scope && !request.principal?.scopes.has(scope)) throw insufficientScope(scope);
}

/** Who is acting, for the services. */
export function contextOf(request: FastifyRequest): RequestContext {
  const p = request.principal;
  return { actor: p ? { kind: p.kind, id: p.id } : { kind: 'system', id: 'anonymous' }, requestId: request.id };
}
