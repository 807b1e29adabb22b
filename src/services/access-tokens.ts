import { SignJWT, decodeJwt, errors, jwtVerify } from 'jose';
import { nowSeconds } from '../adapters/clock.js';
import { randomId } from '../adapters/ids.js';
import type { Limiter } from '../adapters/limiter.js';
import { hashSecret } from '../adapters/secrets.js';
import type { Config } from '../config.js';
import { type CredentialVerifier, type Principal, SCOPES, type Scope, expandScopes, grantedScopes } from './auth.js';
import type { AuthFailureGuard } from './auth-failures.js';
import type { OAuthClientService } from './oauth-clients.js';
import { OAuthError } from './oauth-errors.js';
import { SIGNING_ALGORITHM, type SigningKeyService } from './signing-keys.js';

/** A JWS in compact form: three base64url parts. Cheap enough for `accepts`. */
const COMPACT_JWS = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;
const WINDOW_SECONDS = 60;

export interface TokenRequest {
  grantType: string | undefined;
  clientId: string;
  clientSecret: string;
  scope: string | undefined;
  /** The caller's address, for the limit on failed client authentications. */
  ip: string;
}

/** RFC 6749 §5.1, plus the rate-limit figures for the response headers. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  client_id: string;
  rateLimit: { limit: number; remaining: number; resetAt: number };
}

/** Verifies one issuer's tokens; `null` for any token it does not vouch for. */
export interface TokenVerifier {
  /** The `iss` values this verifier answers for. */
  issuers: readonly string[];
  verify(token: string): Promise<Principal | null>;
}

interface Deps {
  config: Config;
  limiter: Limiter;
  authFailures: AuthFailureGuard;
  clients: OAuthClientService;
  signingKeys: SigningKeyService;
}

function retryAfter(resetAt: number): string {
  return String(Math.max(1, resetAt - nowSeconds()));
}

/**
 * The requested scopes, or the client's own; a scope the client lacks is refused, never widened.
 * `headers` go with a refusal.
 */
function narrow(requested: string | undefined, allowed: Set<Scope>, granted: Scope[], headers: Record<string, string>): Scope[] {
  if (requested === undefined) return granted;
  const names = requested.split(' ');
  if (requested.length === 0 || names.some((n) => n.length === 0)) throw new OAuthError('invalid_scope', 'scope must be space-separated scope names', headers);
  for (const n of names) {
    if (!SCOPES.includes(n as Scope)) throw new OAuthError('invalid_scope', `Unknown scope '${n.slice(0, 50)}'; known: ${SCOPES.join(', ')}`, headers);
    if (!allowed.has(n as Scope)) throw new OAuthError('invalid_scope', `Scope '${n}' is not granted to this client`, headers);
  }
  return grantedScopes(names);
}

/** The built-in authorization server: issues RFC 9068 access tokens and verifies them. */
export function createAccessTokenService({ config, limiter, authFailures, clients, signingKeys }: Deps) {
  const issuer = config.publicUrl;
  const audience = config.publicUrl;

  const builtIn: TokenVerifier = {
    issuers: [issuer],
    async verify(token) {
      try {
        const { payload } = await jwtVerify(
          token,
          async (header) => {
            const key = header.kid === undefined ? undefined : await signingKeys.publicKey(header.kid);
            if (!key) throw new errors.JWKSNoMatchingKey();
            return key;
          },
          { issuer, audience, algorithms: [SIGNING_ALGORITHM], typ: 'at+jwt', requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id'] },
        );
        if (typeof payload.client_id !== 'string' || payload.client_id !== payload.sub) return null;
        const client = await clients.active(payload.client_id);
        if (!client) return null;
        // A token never carries more than its client holds now.
        const held = expandScopes(client.scopes);
        const scopes = new Set([...expandScopes(typeof payload.scope === 'string' ? payload.scope.split(' ') : [])].filter((s) => held.has(s)));
        return { kind: 'oauth_client', id: client.id, scopes, rateLimitPerMinute: null };
      } catch (err) {
        if (err instanceof errors.JOSEError) return null;
        throw err;
      }
    },
  };

  return {
    issuer,
    audience,
    builtIn,

    /**
     * The client-credentials grant (RFC 6749 §4.4). Failed client authentications count against
     * the caller's address (the budget bearer failures share); tokens are limited per client.
     */
    async clientCredentials(req: TokenRequest): Promise<TokenResponse> {
      const fingerprint = hashSecret(`${req.clientId}:${req.clientSecret}`);
      const attempt = await authFailures.begin(req.ip, fingerprint);
      if (attempt.wait > 0) throw new OAuthError('rate_limit_exceeded', 'Too many failed authentication attempts from this address', { 'retry-after': String(attempt.wait) });
      const client = await authFailures.check(req.ip, attempt, () => clients.authenticate(req.clientId, req.clientSecret));
      // A failure keeps the unit its attempt took.
      if (!client) throw new OAuthError('invalid_client', 'Client authentication failed');
      await authFailures.succeeded(req.ip, fingerprint, attempt);
      // The client is known from here on: every answer spends from its budget and reports it, a
      // refused request as an issued token, as every authenticated response does (API.md §7).
      const rate = await limiter.consume(`token:${client.id}`, config.rateLimitPerMinute, WINDOW_SECONDS);
      const budget = { 'x-ratelimit-limit': String(rate.limit), 'x-ratelimit-remaining': String(rate.remaining), 'x-ratelimit-reset': String(rate.resetAt) };
      if (!rate.allowed) {
        throw new OAuthError('rate_limit_exceeded', `Rate limit of ${rate.limit} token requests per minute exceeded`, { 'retry-after': retryAfter(rate.resetAt), ...budget });
      }
      if (req.grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is required', budget);
      if (req.grantType !== 'client_credentials') throw new OAuthError('unsupported_grant_type', 'Only grant_type=client_credentials is supported', budget);
      const scopes = narrow(req.scope, expandScopes(client.scopes), grantedScopes(client.scopes), budget);
      const key = await signingKeys.current();
      const now = nowSeconds();
      const scope = scopes.join(' ');
      const accessToken = await new SignJWT({ client_id: client.id, scope })
        .setProtectedHeader({ alg: SIGNING_ALGORITHM, typ: 'at+jwt', kid: key.kid })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(client.id)
        .setIssuedAt(now)
        .setExpirationTime(now + config.accessTokenTtlSeconds)
        .setJti(randomId('', 24))
        .sign(key.privateKey);
      // Its client just authenticated: the new token is exempt from its address's failure budget, as the last one was.
      await authFailures.trust(hashSecret(accessToken));
      return {
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: config.accessTokenTtlSeconds,
        scope,
        client_id: client.id,
        rateLimit: { limit: rate.limit, remaining: rate.remaining, resetAt: rate.resetAt },
      };
    },
  };
}

export type AccessTokenService = ReturnType<typeof createAccessTokenService>;

/**
 * The bearer verifier for JWT access tokens: the unverified `iss` only picks which issuer's keys
 * and rules apply (built-in or external); nothing of the token is trusted before that check.
 */
export function createJwtVerifier(issuers: TokenVerifier[]): CredentialVerifier {
  return {
    accepts: (credential) => COMPACT_JWS.test(credential),
    async verify(credential) {
      let iss: unknown;
      try {
        iss = decodeJwt(credential).iss;
      } catch {
        return null;
      }
      const verifier = typeof iss === 'string' ? issuers.find((v) => v.issuers.includes(iss)) : undefined;
      return verifier ? verifier.verify(credential) : null;
    },
  };
}
