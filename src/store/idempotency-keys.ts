import type { Kysely } from 'kysely';
import type { Tables } from './tables.js';

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string | null;
}

export interface IdempotencyRecord {
  fingerprint: string;
  state: 'in_flight' | 'done';
  lockedUntil: number;
  expiresAt: number;
  response: StoredResponse | null;
  /** The user the response holds (see `complete`), until it is erased. */
  userId: string | null;
}

export interface ClaimInput {
  principalId: string;
  key: string;
  fingerprint: string;
  nowMs: number;
  lockMs: number;
  ttlMs: number;
}

export function createIdempotencyKeyStore(db: Kysely<Tables>) {
  const row = (principalId: string, key: string) => db.selectFrom('idempotency_keys').selectAll().where('principal_id', '=', principalId).where('key', '=', key);

  return {
    /**
     * Inserts the key's row unless one exists. The primary key decides between concurrent
     * requests on both dialects: exactly one insert counts, the others see its row.
     */
    async tryInsert(c: ClaimInput): Promise<boolean> {
      const result = await db
        .insertInto('idempotency_keys')
        .values({
          principal_id: c.principalId,
          key: c.key,
          fingerprint: c.fingerprint,
          state: 'in_flight',
          locked_until: c.nowMs + c.lockMs,
          created_at: c.nowMs,
          expires_at: c.nowMs + c.ttlMs,
        })
        .onConflict((oc) => oc.columns(['principal_id', 'key']).doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
    },

    async find(principalId: string, key: string): Promise<IdempotencyRecord | undefined> {
      const r = await row(principalId, key).executeTakeFirst();
      if (!r) return undefined;
      return {
        fingerprint: r.fingerprint,
        state: r.state === 'done' ? 'done' : 'in_flight',
        lockedUntil: Number(r.locked_until),
        expiresAt: Number(r.expires_at),
        response:
          r.response_status == null
            ? null
            : { status: Number(r.response_status), headers: JSON.parse(r.response_headers ?? '{}'), body: r.response_body },
        userId: r.user_id,
      };
    },

    /**
     * Takes over an in-flight claim whose holder has stopped (crashed) without finishing, or an
     * expired record; the conditions make the takeover a compare-and-set, so one taker wins.
     */
    async takeOver(c: ClaimInput): Promise<boolean> {
      const result = await db
        .updateTable('idempotency_keys')
        .set({ fingerprint: c.fingerprint, state: 'in_flight', locked_until: c.nowMs + c.lockMs, created_at: c.nowMs, expires_at: c.nowMs + c.ttlMs, response_status: null, response_headers: null, response_body: null, user_id: null })
        .where('principal_id', '=', c.principalId)
        .where('key', '=', c.key)
        .where((eb) => eb.or([eb('expires_at', '<=', c.nowMs), eb.and([eb('state', '=', 'in_flight'), eb('locked_until', '<=', c.nowMs)])]))
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** Keeps the response; `userId` names the user its body holds, if it holds one. */
    async complete(principalId: string, key: string, response: StoredResponse, userId: string | null): Promise<void> {
      await db
        .updateTable('idempotency_keys')
        .set({ state: 'done', response_status: response.status, response_headers: JSON.stringify(response.headers), response_body: response.body, user_id: userId })
        .where('principal_id', '=', principalId)
        .where('key', '=', key)
        .execute();
    },

    /** Forgets an in-flight key (the request failed without effect), so a retry acts again. */
    async remove(principalId: string, key: string): Promise<void> {
      await db.deleteFrom('idempotency_keys').where('principal_id', '=', principalId).where('key', '=', key).where('state', '=', 'in_flight').execute();
    },

    /**
     * Rewrites the body of every kept response holding this user through `redact`, and unlinks it
     * from the user; called in the transaction that deletes the user, so the erasure commits with
     * the deletion.
     */
    async eraseUser(userId: string, redact: (body: string) => string): Promise<void> {
      const rows = await db.selectFrom('idempotency_keys').select(['principal_id', 'key', 'response_body']).where('user_id', '=', userId).execute();
      for (const row of rows) {
        await db
          .updateTable('idempotency_keys')
          .set({ response_body: row.response_body === null ? null : redact(row.response_body), user_id: null })
          .where('principal_id', '=', row.principal_id)
          .where('key', '=', row.key)
          .where('user_id', '=', userId)
          .execute();
      }
    },

    /** Deletes every record expired at `nowMs`; returns how many. */
    async deleteExpired(nowMs: number): Promise<number> {
      const result = await db.deleteFrom('idempotency_keys').where('expires_at', '<=', nowMs).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

export type IdempotencyKeyStore = ReturnType<typeof createIdempotencyKeyStore>;
