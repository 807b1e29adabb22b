import { nowIso, toIso } from '../adapters/clock.js';
import type { Invalidations } from '../adapters/invalidations.js';
import { randomId, randomSecret } from '../adapters/ids.js';
import { hashSecret, sameDigest } from '../adapters/secrets.js';
import { notFound } from '../errors.js';
import type { ApiKey, CreatedApiKey } from '../schemas/api-keys.js';
import type { StoredApiKey } from '../store/api-keys.js';
import type { Store } from '../store/index.js';
import { type CredentialVerifier, type Principal, type Scope, expandScopes, grantedScopes } from './auth.js';

// rk_<12 id chars>_<43 base64url chars = 256 bits>. The id lets a key be found without
// searching by hash; the prefix makes a leaked key recognizable to secret scanners.
const KEY_FORMAT = /^rk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

/** A key is re-read from the database at least this often, so a revocation made by another process takes effect within 5 seconds. */
const CACHE_TTL_MS = 4000;
const CACHE_MAX_ENTRIES = 10_000;
/** `last_used_at` is written at most this often per key, never on every request. */
const TOUCH_INTERVAL_MS = 60_000;

export interface CreateApiKeyInput {
  name: string;
  scopes: Scope[];
  expiresInSeconds?: number;
  rateLimitPerMinute?: number;
}

interface Deps {
  store: Store;
  invalidations?: Invalidations;
  onError?: (err: unknown, what: string) => void;
}

export function toApiKeyResponse(key: StoredApiKey): ApiKey {
  return {
    id: key.id,
    name: key.name,
    scopes: grantedScopes(key.scopes),
    rate_limit_per_minute: key.rateLimitPerMinute,
    created_at: key.createdAt,
    expires_at: key.expiresAt,
    last_used_at: key.lastUsedAt,
  };
}

/** A key as cached: what every request with it needs, worked out once per read from the database. */
interface CachedKey {
  key: StoredApiKey;
  secretHash: Buffer;
  principal: Principal;
}

export function createApiKeyService({ store, invalidations, onError = () => {} }: Deps) {
  const cache = new Map<string, { cached: CachedKey | undefined; fetchedAt: number }>();
  const touchedAt = new Map<string, number>();

  async function load(id: string): Promise<CachedKey | undefined> {
    const hit = cache.get(id);
    const now = Date.now();
    if (hit && now - hit.fetchedAt < CACHE_TTL_MS) return hit.cached;
    const key = await store.apiKeys.findById(id);
    const cached = key && {
      key,
      secretHash: Buffer.from(key.secretHash, 'hex'),
      principal: { kind: 'api_key', id: key.id, scopes: expandScopes(key.scopes), rateLimitPerMinute: key.rateLimitPerMinute } as const,
    };
    if (cache.size >= CACHE_MAX_ENTRIES) cache.clear();
    cache.set(id, { cached, fetchedAt: now });
    return cached;
  }

  function touch(key: StoredApiKey): void {
    const now = Date.now();
    if (now - (touchedAt.get(key.id) ?? 0) < TOUCH_INTERVAL_MS) return;
    touchedAt.set(key.id, now);
    // Off the request path: a failed write only makes last_used_at older.
    store.apiKeys.touch(key.id, toIso(now)).catch((err) => onError(err, 'api key last_used_at update'));
  }

  const verifier: CredentialVerifier = {
    accepts: (credential) => credential.startsWith('rk_'),
    async verify(credential, fingerprint): Promise<Principal | null> {
      const match = KEY_FORMAT.exec(credential);
      if (!match) return null;
      const cached = await load(`key_${match[1]}`);
      if (!cached) return null;
      const { key } = cached;
      if (key.revokedAt !== null) return null;
      if (!sameDigest(fingerprint, cached.secretHash)) return null;
      if (key.expiresAt !== null && key.expiresAt <= nowIso()) return null;
      touch(key);
      return cached.principal;
    },
  };

  return {
    verifier,

    /** Mints a key; the secret is in the result and nowhere else, ever. */
    async create(input: CreateApiKeyInput): Promise<CreatedApiKey> {
      const suffix = randomId('');
      const secret = `rk_${suffix}_${randomSecret(32)}`;
      const now = Date.now();
      const key: StoredApiKey = {
        id: `key_${suffix}`,
        name: input.name,
        secretHash: hashSecret(secret),
        scopes: grantedScopes(input.scopes),
        rateLimitPerMinute: input.rateLimitPerMinute ?? null,
        createdAt: toIso(now),
        expiresAt: input.expiresInSeconds ? toIso(now + input.expiresInSeconds * 1000) : null,
        lastUsedAt: null,
        revokedAt: null,
      };
      await store.apiKeys.insert(key);
      return { ...toApiKeyResponse(key), secret };
    },

    async list(): Promise<ApiKey[]> {
      return (await store.apiKeys.listActive()).map(toApiKeyResponse);
    },

    /**
     * Revokes the key; it fails on its next use in this process, and on every other instance as
     * soon as the invalidation reaches it (Redis), or when its cached copy expires (within 5 s).
     */
    async revoke(id: string): Promise<void> {
      const revoked = await store.apiKeys.revoke(id, nowIso());
      cache.delete(id);
      if (!revoked) throw notFound('API key not found');
      await invalidations?.publish('api_key', id);
    },

    /** Drops a cached key, for revocations announced by another instance. */
    forget(id: string): void {
      cache.delete(id);
    },
  };
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>;
