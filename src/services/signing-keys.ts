import { type CryptoKey, type JWK, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose';
import { nowIso, toIso } from '../adapters/clock.js';
import { AppError, notFound } from '../errors.js';
import type { Store } from '../store/index.js';
import type { StoredSigningKey } from '../store/signing-keys.js';
import { LONGEST_ACCESS_TOKEN_SECONDS } from '../config.js';

export const SIGNING_ALGORITHM = 'ES256';
/** Keys are re-read at least this often, so a rotation or removal made elsewhere is seen within 5 seconds. */
const CACHE_TTL_MS = 4000;
/** An unknown `kid` may trigger a re-read, but not more than once a second (forged kids cost nothing to send). */
const MISS_RELOAD_MS = 1000;
/**
 * A retired key stays published this long beyond the token lifetime: instances keep signing with
 * their cached current key for up to CACHE_TTL_MS after a rotation, and clocks drift a little.
 */
const PUBLISH_MARGIN_SECONDS = 60;

/** An EC public key as published. */
export interface PublicJwk {
  kty: string;
  crv: string;
  x: string;
  y: string;
  kid: string;
  alg: string;
  use: string;
}

export interface SigningKeyInfo {
  kid: string;
  algorithm: string;
  created_at: string;
  status: 'current' | 'retired';
  publish_until: string | null;
}

interface Deps {
  store: Store;
}

interface LoadedKey {
  stored: StoredSigningKey;
  publicKey: CryptoKey;
}

function published(key: StoredSigningKey, now: string): boolean {
  return key.publishUntil === null || key.publishUntil > now;
}

function info(key: StoredSigningKey): SigningKeyInfo {
  return { kid: key.id, algorithm: key.algorithm, created_at: key.createdAt, status: key.retiredAt ? 'retired' : 'current', publish_until: key.publishUntil };
}

/** The signing keys of the built-in authorization server, shared by every instance through the database. */
export function createSigningKeyService({ store }: Deps) {
  let keys: Map<string, LoadedKey> = new Map();
  let loadedAt = 0;
  let loading: Promise<void> | undefined;
  let current: { kid: string; privateKey: CryptoKey } | undefined;
  let minting: Promise<void> | undefined;

  async function reload(): Promise<void> {
    loading ??= (async () => {
      const now = nowIso();
      const rows = (await store.signingKeys.list()).filter((k) => published(k, now));
      const next = new Map<string, LoadedKey>();
      for (const stored of rows) {
        const old = keys.get(stored.id);
        next.set(stored.id, old ?? { stored, publicKey: (await importJWK(stored.publicJwk as JWK, stored.algorithm)) as CryptoKey });
      }
      keys = next;
      loadedAt = Date.now();
      // Newest first: the first key not retired is the current one.
      const newest = rows.find((k) => k.retiredAt === null);
      if (!newest) current = undefined;
      else if (current?.kid !== newest.id) current = { kid: newest.id, privateKey: (await importJWK(newest.privateJwk as JWK, newest.algorithm)) as CryptoKey };
    })().finally(() => {
      loading = undefined;
    });
    return loading;
  }

  async function fresh(): Promise<void> {
    if (Date.now() - loadedAt >= CACHE_TTL_MS) await reload();
  }

  async function mint(): Promise<StoredSigningKey> {
    const pair = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
    const publicJwk = await exportJWK(pair.publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const key = {
      id: kid,
      algorithm: SIGNING_ALGORITHM,
      privateJwk: { ...(await exportJWK(pair.privateKey)), kid, alg: SIGNING_ALGORITHM, use: 'sig' },
      publicJwk: { ...publicJwk, kid, alg: SIGNING_ALGORITHM, use: 'sig' },
      createdAt: nowIso(),
    };
    await store.signingKeys.insert(key);
    return { ...key, retiredAt: null, publishUntil: null };
  }

  // Retirement may be a command's, which cannot know the token lifetime the servers were started
  // with: a retired key stays for the longest one any server may use.
  const retirement = () => {
    const now = Date.now();
    return [toIso(now), toIso(now + (LONGEST_ACCESS_TOKEN_SECONDS + PUBLISH_MARGIN_SECONDS) * 1000)] as const;
  };

  async function rotate(): Promise<SigningKeyInfo> {
    const key = await mint();
    await store.signingKeys.retireAllExcept(key.id, ...retirement());
    await reload();
    return info(key);
  }

  /**
   * The first key of an empty database. Instances starting together may each make one: all but
   * the newest are retired (still published, so what an instance signed meanwhile stays valid).
   */
  async function mintFirst(): Promise<void> {
    await mint();
    await store.signingKeys.retireAllButNewest(...retirement());
    await reload();
  }

  return {
    /** The key to sign with now; the first call on an empty database makes one. */
    async current(): Promise<{ kid: string; privateKey: CryptoKey }> {
      await fresh();
      if (!current) {
        // Concurrent first requests of this instance make one key, not one each.
        minting ??= mintFirst().finally(() => {
          minting = undefined;
        });
        await minting;
      }
      if (!current) throw new AppError('internal_error', 'No signing key');
      return current;
    },

    /** The public key for `kid`, or undefined when it is unknown, removed or past its publication. */
    async publicKey(kid: string): Promise<CryptoKey | undefined> {
      await fresh();
      if (!keys.has(kid) && Date.now() - loadedAt >= MISS_RELOAD_MS) await reload();
      const key = keys.get(kid);
      return key && published(key.stored, nowIso()) ? key.publicKey : undefined;
    },

    /** The JWK Set published at /.well-known/jwks.json: current and retired keys still in use, public parts only. */
    async jwks(): Promise<{ keys: PublicJwk[] }> {
      await fresh();
      const now = nowIso();
      return { keys: [...keys.values()].filter((k) => published(k.stored, now)).map((k) => k.stored.publicJwk as unknown as PublicJwk) };
    },

    /**
     * Makes a new key current. The previous ones stay published until every token they signed
     * has expired (the longest token lifetime allowed, plus a margin), then `prune` removes them.
     */
    rotate,

    async list(): Promise<SigningKeyInfo[]> {
      return (await store.signingKeys.list()).map(info);
    },

    /** Deletes the retired keys whose tokens have all expired; returns their ids. */
    async prune(): Promise<string[]> {
      const gone = await store.signingKeys.prune(nowIso());
      await reload();
      return gone;
    },

    /**
     * Removes a key at once (a compromised key): every token it signed fails, here at once and on
     * other instances within 5 seconds. A current key is first replaced by a new one.
     */
    async remove(kid: string): Promise<void> {
      const target = (await store.signingKeys.list()).find((k) => k.id === kid);
      if (!target) throw notFound('Signing key not found');
      if (target.retiredAt === null) await rotate();
      await store.signingKeys.remove(kid);
      await reload();
    },
  };
}

export type SigningKeyService = ReturnType<typeof createSigningKeyService>;
