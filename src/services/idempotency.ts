import { createHash } from 'node:crypto';
import { AppError } from '../errors.js';
import type { Repositories, Store } from '../store/index.js';
import type { StoredResponse } from '../store/idempotency-keys.js';
import type { PasswordHasher } from '../adapters/password-hasher.js';
import { canonicalJson } from './canonical-json.js';
import { erasePersonalValues } from './erasure.js';

/** API.md §3: a first response is replayed for 24 hours. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60_000;
/** An in-flight claim older than this is taken to be abandoned (its process died); above the request timeout. */
const IN_FLIGHT_LOCK_MS = 60_000;

export type Begin = { kind: 'claimed' } | { kind: 'replay'; response: StoredResponse };

/** What makes two requests "the same": method, path and query, and body (its keys in any order). */
export function requestFingerprint(method: string, url: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${url}\n${canonicalJson(body)}`).digest('hex');
}

/** A body's password, which a fingerprint must not make testable by a fast hash. */
function passwordIn(body: unknown): string | undefined {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const password = (body as Record<string, unknown>).password;
  return typeof password === 'string' ? password : undefined;
}

/** A kept body holding a user (a JSON object), with that user's personal values erased. */
function eraseKeptBody(body: string): string {
  return JSON.stringify(erasePersonalValues(JSON.parse(body)));
}

/**
 * Erases a user's personal values from every kept response that holds the user; called in the
 * transaction deleting it, so that a replay shows what the deleted user's events show.
 */
export async function eraseUserResponses(tx: Repositories, userId: string): Promise<void> {
  await tx.idempotencyKeys.eraseUser(userId, eraseKeptBody);
}

export function createIdempotencyService({ store, hasher, ttlMs = IDEMPOTENCY_TTL_MS }: { store: Store; hasher: Pick<PasswordHasher, 'digest'>; ttlMs?: number }) {
  /**
   * Erases the user's kept responses if it has been deleted; says whether it was. The deletion
   * erases them itself; this covers a response kept just after it, by a request that had read the
   * user before.
   */
  async function erasedIfDeleted(userId: string): Promise<boolean> {
    if (await store.users.findById(userId)) return false;
    await eraseUserResponses(store, userId);
    return true;
  }

  return {
    /**
     * The fingerprint of a request, kept with its key for 24 hours. A password in the body (a new
     * user's, or one to verify) enters it as an argon2id digest salted by the credential and the
     * key: a SHA-256 of the body would let whoever reads the database test guesses at SHA-256's
     * speed, where the stored hash makes each cost an argon2id.
     */
    async fingerprint(principalId: string, key: string, method: string, url: string, body: unknown): Promise<string> {
      const password = passwordIn(body);
      if (password === undefined) return requestFingerprint(method, url, body);
      const salt = createHash('sha256').update(`${principalId}\n${key}`).digest().subarray(0, 16);
      return requestFingerprint(method, url, { ...(body as object), password: `argon2id:${await hasher.digest(password, salt)}` });
    },

    /**
     * Claims `key` for this credential before the handler runs, or says what to answer instead:
     * the first response (same request, finished), 422 (another request under that key), or 409
     * (the first is still in flight).
     */
    async begin(principalId: string, key: string, fingerprint: string): Promise<Begin> {
      // A few rounds cover a record that expires or is removed between two of these statements.
      for (let round = 0; round < 3; round++) {
        const claim = { principalId, key, fingerprint, nowMs: Date.now(), lockMs: IN_FLIGHT_LOCK_MS, ttlMs };
        if (await store.idempotencyKeys.tryInsert(claim)) return { kind: 'claimed' };
        const record = await store.idempotencyKeys.find(principalId, key);
        if (!record) continue;
        const expired = record.expiresAt <= claim.nowMs;
        const abandoned = record.state === 'in_flight' && record.lockedUntil <= claim.nowMs;
        if (expired || (abandoned && record.fingerprint === fingerprint)) {
          if (await store.idempotencyKeys.takeOver(claim)) return { kind: 'claimed' };
          continue;
        }
        if (record.fingerprint !== fingerprint) {
          throw new AppError('idempotency_key_reused', 'This Idempotency-Key was already used with a different request; use a new key for a new request');
        }
        if (record.state === 'done' && record.response) {
          const { response, userId } = record;
          if (userId !== null && response.body !== null && (await erasedIfDeleted(userId))) return { kind: 'replay', response: { ...response, body: eraseKeptBody(response.body) } };
          return { kind: 'replay', response };
        }
        throw new AppError('conflict', 'A request with this Idempotency-Key is still in progress; retry after it completes', undefined, { 'retry-after': '1' });
      }
      throw new AppError('conflict', 'A request with this Idempotency-Key is still in progress; retry after it completes', undefined, { 'retry-after': '1' });
    },

    /**
     * Keeps the response for replay; `userId` names the user its body holds, if it holds one
     * (erased with the user). A server error is not kept: the key is released, so a
     * retry acts again (the failed request changed nothing: its transaction rolled back).
     */
    async finish(principalId: string, key: string, response: StoredResponse, userId: string | null): Promise<void> {
      if (response.status >= 500) await store.idempotencyKeys.remove(principalId, key);
      else {
        await store.idempotencyKeys.complete(principalId, key, response, userId);
        if (userId !== null) await erasedIfDeleted(userId);
      }
    },

    /** Deletes the records expired at `nowMs` (default now); returns how many. */
    cleanup(nowMs = Date.now()): Promise<number> {
      return store.idempotencyKeys.deleteExpired(nowMs);
    },
  };
}

export type IdempotencyService = ReturnType<typeof createIdempotencyService>;
