import { nowIso, toIso } from '../adapters/clock.js';
import type { Invalidations } from '../adapters/invalidations.js';
import { randomId, randomSecret } from '../adapters/ids.js';
import { hashSecret, sameHash } from '../adapters/secrets.js';
import { notFound } from '../errors.js';
import type { CreatedOAuthClient, OAuthClient } from '../schemas/oauth-clients.js';
import type { Store } from '../store/index.js';
import type { StoredOAuthClient } from '../store/oauth-clients.js';
import { type Scope, grantedScopes } from './auth.js';

/** Client ids: `cli_` + 12 of [a-z0-9]. Secrets: `rcs_` + 43 base64url characters (256 bits), recognizable to secret scanners. */
export const CLIENT_ID_FORMAT = /^cli_[a-z0-9]{12}$/;
const SECRET_FORMAT = /^rcs_[A-Za-z0-9_-]{43}$/;
// A secret of the right form is still hashed for an unknown client, so that the time of a
// refusal does not tell whether the client exists.
const UNKNOWN_CLIENT_HASH = hashSecret('rcs_unknown');

/** A client is re-read at least this often, so a revocation made by another process takes effect within 5 seconds. */
const CACHE_TTL_MS = 4000;
const CACHE_MAX_ENTRIES = 10_000;
const TOUCH_INTERVAL_MS = 60_000;

export interface CreateOAuthClientInput {
  name: string;
  scopes: Scope[];
}

interface Deps {
  store: Store;
  invalidations?: Invalidations;
  onError?: (err: unknown, what: string) => void;
}

export function toOAuthClientResponse(client: StoredOAuthClient): OAuthClient {
  return {
    client_id: client.id,
    name: client.name,
    scopes: grantedScopes(client.scopes),
    created_at: client.createdAt,
    last_used_at: client.lastUsedAt,
  };
}

export function createOAuthClientService({ store, invalidations, onError = () => {} }: Deps) {
  const cache = new Map<string, { client: StoredOAuthClient | undefined; fetchedAt: number }>();
  const touchedAt = new Map<string, number>();

  return {
    /** Registers a client; its secret is in the result and nowhere else, ever. */
    async create(input: CreateOAuthClientInput): Promise<CreatedOAuthClient> {
      const secret = `rcs_${randomSecret(32)}`;
      const client = { id: randomId('cli_'), name: input.name, secretHash: hashSecret(secret), scopes: grantedScopes(input.scopes), createdAt: nowIso() };
      await store.oauthClients.insert(client);
      return { ...toOAuthClientResponse({ ...client, lastUsedAt: null, revokedAt: null }), client_secret: secret };
    },

    async list(): Promise<OAuthClient[]> {
      return (await store.oauthClients.listActive()).map(toOAuthClientResponse);
    },

    /**
     * Revokes the client: no new tokens, and its tokens fail here at once, and on every other
     * instance as soon as the invalidation reaches it, or when its cached copy expires (within 5 s).
     */
    async revoke(id: string): Promise<void> {
      const revoked = await store.oauthClients.revoke(id, nowIso());
      cache.delete(id);
      if (!revoked) throw notFound('OAuth client not found');
      await invalidations?.publish('oauth_client', id);
    },

    /**
     * The active client with this id and secret, or null. Read from the database each time: the
     * token endpoint is where a revocation must be seen at once.
     */
    async authenticate(id: string, secret: string): Promise<StoredOAuthClient | null> {
      const wellFormed = CLIENT_ID_FORMAT.test(id) && SECRET_FORMAT.test(secret);
      const client = wellFormed ? await store.oauthClients.findById(id) : undefined;
      const matches = sameHash(hashSecret(secret), client?.secretHash ?? UNKNOWN_CLIENT_HASH);
      if (!client || !matches || client.revokedAt !== null) return null;
      const now = Date.now();
      if (now - (touchedAt.get(id) ?? 0) >= TOUCH_INTERVAL_MS) {
        touchedAt.set(id, now);
        store.oauthClients.touch(id, toIso(now)).catch((err) => onError(err, 'oauth client last_used_at update'));
      }
      return client;
    },

    /** Drops a cached client, for revocations announced by another instance. */
    forget(id: string): void {
      cache.delete(id);
    },

    /** The active client for a token being verified, cached at most 4 seconds. */
    async active(id: string): Promise<StoredOAuthClient | null> {
      const hit = cache.get(id);
      const now = Date.now();
      let client = hit?.client;
      if (!hit || now - hit.fetchedAt >= CACHE_TTL_MS) {
        client = await store.oauthClients.findById(id);
        if (cache.size >= CACHE_MAX_ENTRIES) cache.clear();
        cache.set(id, { client, fetchedAt: now });
      }
      return client && client.revokedAt === null ? client : null;
    },
  };
}

export type OAuthClientService = ReturnType<typeof createOAuthClientService>;
