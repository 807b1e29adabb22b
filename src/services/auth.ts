import { AppError } from '../errors.js';

export type Scope = 'read' | 'write' | 'admin';
export const SCOPES: readonly Scope[] = ['read', 'write', 'admin'];

/** Who is calling: an API key or an OAuth client, with its effective scopes. */
export interface Principal {
  kind: 'api_key' | 'oauth_client';
  id: string;
  scopes: ReadonlySet<Scope>;
  /** The credential's own limit per minute, or null for the default. */
  rateLimitPerMinute: number | null;
  /** Set for a token of the external issuer, whose client ids are not Roster's to allocate. */
  external?: true;
}

/**
 * Whose rate budget and kept Idempotency-Key responses a request uses. An external issuer may
 * name its clients anything, `key_…` included, so its ids live apart from Roster's own.
 */
export function partitionOf(principal: Principal): string {
  return principal.external ? `external:${principal.id}` : principal.id;
}

/** Who made a change, as recorded with it. */
export interface Actor {
  kind: 'api_key' | 'oauth_client' | 'cli' | 'system';
  id: string;
}

export interface RequestContext {
  actor: Actor;
  requestId: string;
}

/** `admin` implies `write`, which implies `read`. */
export function expandScopes(scopes: Iterable<string>): Set<Scope> {
  const out = new Set<Scope>();
  for (const s of scopes) {
    if (s === 'admin') out.add('admin').add('write').add('read');
    else if (s === 'write') out.add('write').add('read');
    else if (s === 'read') out.add('read');
  }
  return out;
}

/** The scopes as granted, without those implied: ['admin'] rather than all three. */
export function grantedScopes(scopes: Iterable<string>): Scope[] {
  const set = new Set(scopes);
  return SCOPES.filter((s) => set.has(s));
}

/** One way of checking a bearer credential (API keys; OAuth access tokens). */
export interface CredentialVerifier {
  /** Whether the credential has this verifier's form (cheap, no I/O). */
  accepts(credential: string): boolean;
  /**
   * The principal, or null for an unknown, revoked, expired or invalid credential. `fingerprint`
   * is hashSecret(credential), which the caller has already worked out.
   */
  verify(credential: string, fingerprint: string): Promise<Principal | null>;
}

export function createAuthenticator(verifiers: CredentialVerifier[]) {
  return {
    /** Resolves a bearer credential (and its hashSecret) to its principal, or null if no verifier accepts it. */
    async authenticate(credential: string, fingerprint: string): Promise<Principal | null> {
      for (const v of verifiers) if (v.accepts(credential)) return v.verify(credential, fingerprint);
      return null;
    },
  };
}

export type Authenticator = ReturnType<typeof createAuthenticator>;

export function insufficientScope(scope: Scope): AppError {
  return new AppError('insufficient_scope', `This request requires the '${scope}' scope`, undefined, {
    'www-authenticate': `Bearer realm="roster", error="insufficient_scope", scope="${scope}"`,
  });
}
