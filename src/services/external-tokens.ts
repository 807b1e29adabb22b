import { type JWTPayload, createRemoteJWKSet, customFetch, errors, jwtVerify } from 'jose';
import { AppError } from '../errors.js';
import type { TokenVerifier } from './access-tokens.js';
import { expandScopes } from './auth.js';

/**
 * Asymmetric algorithms only: an HMAC algorithm would let anyone holding the issuer's public key
 * forge tokens, and `none` is no signature at all.
 */
export const EXTERNAL_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** Clocks of two servers disagree a little; a minute is what Auth0 and Keycloak tolerate. */
export const CLOCK_TOLERANCE_SECONDS = 30;
const METADATA_TIMEOUT_MS = 5000;
const METADATA_RETRY_MS = 10_000;
const MAX_ID_LENGTH = 255;

export interface ExternalIssuerOptions {
  issuer: string;
  audience: string;
  jwksUrl: string | null;
  /** The JWKS is fetched again for an unknown `kid` at most once per this many seconds. */
  jwksCooldownSeconds: number;
}

function unavailable(what: string): AppError {
  return new AppError('service_unavailable', `The OAuth issuer's ${what} could not be fetched`, undefined, { 'retry-after': '10' });
}

/** The issuer's key set answered other than 200: the issuer's trouble, not the caller's. */
class KeySetUnavailable extends Error {}

/**
 * fetch for jose's remote key set. jose reports an answer other than 200 as it reports a bad
 * token; thrown as this instead, it is told apart (503, and no failed authentication counted).
 */
const fetchKeySet: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  if (res.status !== 200) throw new KeySetUnavailable(`The JWKS answered ${res.status}`);
  return res;
};

/** Both forms of the issuer: OAUTH_ISSUER loses its trailing slash in config, while Auth0's `iss` has one. */
function issuerForms(issuer: string): string[] {
  const bare = issuer.replace(/\/+$/, '');
  return [bare, `${bare}/`];
}

/** RFC 8414 §3 and OpenID Connect Discovery: where an issuer publishes its metadata. */
export function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  return [`${url.origin}${path}/.well-known/openid-configuration`, `${url.origin}/.well-known/oauth-authorization-server${path}`];
}

async function discoverJwksUrl(issuer: string): Promise<string> {
  for (const url of metadataUrls(issuer)) {
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(METADATA_TIMEOUT_MS), headers: { accept: 'application/json' }, redirect: 'error' });
    } catch {
      continue;
    }
    if (!res.ok) continue;
    const meta = (await res.json().catch(() => null)) as { issuer?: unknown; jwks_uri?: unknown } | null;
    // The metadata must name the configured issuer (RFC 8414 §3.3), or it describes another server.
    if (!meta || typeof meta.issuer !== 'string' || !issuerForms(issuer).includes(meta.issuer)) continue;
    if (typeof meta.jwks_uri === 'string' && /^https?:\/\//.test(meta.jwks_uri)) return meta.jwks_uri;
  }
  throw unavailable('metadata');
}

/** Scopes from `scope` (space-separated, RFC 9068) or `scp` (an array, as Okta; a string, as Entra ID). */
export function scopesOf(payload: JWTPayload): string[] {
  const out: string[] = [];
  if (typeof payload.scope === 'string') out.push(...payload.scope.split(' '));
  if (typeof payload.scp === 'string') out.push(...payload.scp.split(' '));
  if (Array.isArray(payload.scp)) out.push(...payload.scp.filter((s): s is string => typeof s === 'string'));
  return out;
}

/** Who the token speaks for: the OAuth client (`client_id`, RFC 9068; `azp`, `appid`), else its subject. */
function clientOf(payload: JWTPayload): string | null {
  for (const claim of ['client_id', 'azp', 'appid', 'sub']) {
    const v = payload[claim];
    if (typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH) return v;
  }
  return null;
}

/**
 * Accepts tokens of an external authorization server (Auth0, Keycloak, Entra ID …): signature by
 * its JWKS (cached; an unknown `kid` refetches at most once per cooldown), then `iss`, `aud`,
 * `exp` and `nbf` with a small clock tolerance.
 */
export function createExternalTokenVerifier(options: ExternalIssuerOptions): TokenVerifier {
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  let discovering: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  let failedAt = 0;
  const issuers = issuerForms(options.issuer);

  async function keySet(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (jwks) return jwks;
    // A failed discovery is retried, but not on every request while the issuer is down.
    if (Date.now() - failedAt < METADATA_RETRY_MS) throw unavailable('metadata');
    discovering ??= (async () => {
      const url = options.jwksUrl ?? (await discoverJwksUrl(options.issuer));
      jwks = createRemoteJWKSet(new URL(url), {
        cooldownDuration: options.jwksCooldownSeconds * 1000,
        timeoutDuration: 5000,
        cacheMaxAge: 10 * 60_000,
        [customFetch]: fetchKeySet,
      });
      return jwks;
    })()
      .catch((err) => {
        failedAt = Date.now();
        throw err;
      })
      .finally(() => {
        discovering = undefined;
      });
    return discovering;
  }

  return {
    issuers,
    async verify(token) {
      const set = await keySet();
      try {
        const { payload } = await jwtVerify(token, set, {
          issuer: issuers,
          audience: options.audience,
          algorithms: EXTERNAL_ALGORITHMS,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['exp'],
        });
        const id = clientOf(payload);
        if (!id) return null;
        return { kind: 'oauth_client', id, scopes: expandScopes(scopesOf(payload)), rateLimitPerMinute: null, external: true };
      } catch (err) {
        // The issuer unreachable, failing or publishing a broken key set is not the caller's fault: 503, not 401.
        if (err instanceof KeySetUnavailable || err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || (err instanceof TypeError && /fetch/i.test(err.message))) {
          throw unavailable('JWKS');
        }
        if (err instanceof errors.JOSEError) return null;
        throw err;
      }
    },
  };
}
