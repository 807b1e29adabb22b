import type { Kysely } from 'kysely';
import type { Dialect } from './database.js';
import { insertionOrder } from './insertion-order.js';
import type { Tables } from './tables.js';

export interface StoredApiKey {
  id: string;
  name: string;
  secretHash: string;
  scopes: string[];
  rateLimitPerMinute: number | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

function toApiKey(row: Tables['api_keys']): StoredApiKey {
  return {
    id: row.id,
    name: row.name,
    secretHash: row.secret_hash,
    scopes: row.scopes.split(' ').filter(Boolean),
    rateLimitPerMinute: row.rate_limit_per_minute == null ? null : Number(row.rate_limit_per_minute),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

export function createApiKeyStore(db: Kysely<Tables>, dialect: Dialect) {
  return {
    async insert(key: Omit<StoredApiKey, 'lastUsedAt' | 'revokedAt'>): Promise<void> {
      await db
        .insertInto('api_keys')
        .values({
          id: key.id,
          name: key.name,
          secret_hash: key.secretHash,
          scopes: key.scopes.join(' '),
          rate_limit_per_minute: key.rateLimitPerMinute,
          created_at: key.createdAt,
          expires_at: key.expiresAt,
        })
        .execute();
    },

    async findById(id: string): Promise<StoredApiKey | undefined> {
      const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toApiKey(row);
    },

    async listActive(): Promise<StoredApiKey[]> {
      const rows = await db.selectFrom('api_keys').selectAll().where('revoked_at', 'is', null).orderBy('created_at').orderBy(insertionOrder(dialect)).execute();
      return rows.map(toApiKey);
    },

    /** Marks the key revoked; false if it does not exist or already was. */
    async revoke(id: string, at: string): Promise<boolean> {
      const result = await db.updateTable('api_keys').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    async touch(id: string, at: string): Promise<void> {
      await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
    },
  };
}

export type ApiKeyStore = ReturnType<typeof createApiKeyStore>;
