import type { Kysely } from 'kysely';
import type { Tables } from './tables.js';

export interface StoredSigningKey {
  id: string;
  algorithm: string;
  /** JWK objects, stored as JSON text. */
  privateJwk: Record<string, unknown>;
  publicJwk: Record<string, unknown>;
  createdAt: string;
  retiredAt: string | null;
  publishUntil: string | null;
}

function toKey(row: Tables['signing_keys']): StoredSigningKey {
  return {
    id: row.id,
    algorithm: row.algorithm,
    privateJwk: JSON.parse(row.private_jwk),
    publicJwk: JSON.parse(row.public_jwk),
    createdAt: row.created_at,
    retiredAt: row.retired_at,
    publishUntil: row.publish_until,
  };
}

export function createSigningKeyStore(db: Kysely<Tables>) {
  return {
    async insert(key: Omit<StoredSigningKey, 'retiredAt' | 'publishUntil'>): Promise<void> {
      await db
        .insertInto('signing_keys')
        .values({
          id: key.id,
          algorithm: key.algorithm,
          private_jwk: JSON.stringify(key.privateJwk),
          public_jwk: JSON.stringify(key.publicJwk),
          created_at: key.createdAt,
        })
        .execute();
    },

    /** Every key still stored, newest first. */
    async list(): Promise<StoredSigningKey[]> {
      const rows = await db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
      return rows.map(toKey);
    },

    /** Retires every current key except `keepId`, publishing each until `publishUntil`. */
    async retireAllExcept(keepId: string, at: string, publishUntil: string): Promise<number> {
      const result = await db
        .updateTable('signing_keys')
        .set({ retired_at: at, publish_until: publishUntil })
        .where('id', '!=', keepId)
        .where('retired_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    },

    /**
     * Retires every current key but the newest (by creation, then id), in one statement: instances
     * that each made a first key at once all keep the same one, whichever of them runs it when.
     */
    async retireAllButNewest(at: string, publishUntil: string): Promise<number> {
      const result = await db
        .updateTable('signing_keys')
        .set({ retired_at: at, publish_until: publishUntil })
        .where('retired_at', 'is', null)
        .where('id', '!=', (eb) =>
          eb.selectFrom('signing_keys').select('id').where('retired_at', 'is', null).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1),
        )
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    },

    /** Deletes retired keys no longer published at `now`; returns their ids. */
    async prune(now: string): Promise<string[]> {
      const gone = await db.selectFrom('signing_keys').select('id').where('publish_until', 'is not', null).where('publish_until', '<=', now).execute();
      if (gone.length === 0) return [];
      await db.deleteFrom('signing_keys').where('id', 'in', gone.map((r) => r.id)).execute();
      return gone.map((r) => r.id);
    },

    async remove(id: string): Promise<boolean> {
      const result = await db.deleteFrom('signing_keys').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}

export type SigningKeyStore = ReturnType<typeof createSigningKeyStore>;
