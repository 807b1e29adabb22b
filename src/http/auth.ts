import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Limiter } from '../adapters/limiter.js';
import { hashSecret } from '../adapters/secrets.js';
import { AppError } from '../errors.js';
import { type Authenticator, type Principal, type RequestContext, type Scope, authFailureKey, insufficientScope } from '../services/auth.js';
import { routeOf } from './route-of.js';

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
const FAILURE_WINDOW_SECONDS = 60;
/** How long, and for how many credentials, a success is remembered (by hash, never the secret). */
const RECENTLY_VALID_MS = 10 * 60_000;
const RECENTLY_VALID_MAX = 10_000;
const RENEW_AFTER_MS = 60_000;

/** A bounded set of strings that each expire `ttlMs` after they were last added. */
function createRecentSet(ttlMs: number, max: number) {
  const expiries = new Map<string, number>();
  return {
    has(key: string): boolean {
      const expiry = expiries.get(key);
      return expiry !== undefined && expiry > Date.now();
    },
    add(key: string): void {
      const now = Date.now();
      // A key added in the last minute is left as it is: renewing it on every request of a busy
      // client would churn the Map for an expiry that moved by milliseconds.
      const expiry = expiries.get(key);
      if (expiry !== undefined && expiry - now > ttlMs - RENEW_AFTER_MS) return;
      // Re-inserted so that the Map's order stays oldest first, for eviction.
      expiries.delete(key);
      expiries.set(key, now + ttlMs);
      if (expiries.size > max) expiries.delete(expiries.keys().next().value as string);
    },
  };
}

function unauthorized(message: string, invalidToken: boolean): AppError {
  const challenge = invalidToken ? `Bearer realm="roster", error="invalid_token", error_description="${message}"` : 'Bearer realm="roster"';
  return new AppError('unauthorized', message, undefined, { 'www-authenticate': challenge });
}

interface AuthOptions {
  authenticator: Authenticator;
  limiter: Limiter;
  failuresPerMinute: number;
}

/**
 * onRequest: resolves the bearer credential of a route that requires a scope, before the body is
 * read, so a caller without a credential learns nothing about the body's validity. Failed
 * attempts are limited per client address, against guessing.
 */
export function authenticate({ authenticator, limiter, failuresPerMinute }: AuthOptions) {
  const recentlyValid = createRecentSet(RECENTLY_VALID_MS, RECENTLY_VALID_MAX);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!routeOf(request).config.scope) return;
    const header = request.headers.authorization;
    if (header === undefined) throw unauthorized('Missing credential: send Authorization: Bearer <API key or access token>', false);
    const match = BEARER.exec(header);
    const fingerprint = match ? hashSecret(match[1]) : null;
    const failureKey = authFailureKey(request.ip);
    // Over the budget, only credentials that worked recently are still checked: guessing stays
    // blocked, while the valid clients behind a shared address (NAT, proxy) keep working. Such a
    // credential passes either way, so its requests skip the budget (a Redis call when shared).
    if (!(fingerprint && recentlyValid.has(fingerprint))) {
      const budget = await limiter.peek(failureKey, failuresPerMinute, FAILURE_WINDOW_SECONDS);
      if (!budget.allowed) {
        const retryAfter = Math.max(1, budget.resetAt - Math.floor(Date.now() / 1000));
        throw new AppError('rate_limit_exceeded', 'Too many failed authentication attempts from this address', undefined, { 'retry-after': String(retryAfter) });
      }
    }
    const principal = match && fingerprint ? await authenticator.authenticate(match[1], fingerprint) : null;
    if (!principal) {
      await limiter.consume(failureKey, failuresPerMinute, FAILURE_WINDOW_SECONDS);
      throw unauthorized(match ? 'Invalid, expired or revoked credential' : 'Malformed Authorization header: expected Bearer <credential>', true);
    }
    recentlyValid.add(fingerprint!);
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
