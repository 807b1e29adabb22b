import type { Kysely } from 'kysely';
import type { Dialect } from './database.js';
import { insertionOrder } from './insertion-order.js';
import type { Tables } from './tables.js';

export interface StoredOAuthClient {
  id: string;
  name: string;
  secretHash: string;
  scopes: string[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

function toClient(row: Tables['oauth_clients']): StoredOAuthClient {
  return {
    id: row.id,
    name: row.name,
    secretHash: row.secret_hash,
    scopes: row.scopes.split(' ').filter(Boolean),
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

export function createOAuthClientStore(db: Kysely<Tables>, dialect: Dialect) {
  return {
    async insert(client: Omit<StoredOAuthClient, 'lastUsedAt' | 'revokedAt'>): Promise<void> {
      await db
        .insertInto('oauth_clients')
        .values({ id: client.id, name: client.name, secret_hash: client.secretHash, scopes: client.scopes.join(' '), created_at: client.createdAt })
        .execute();
    },

    async findById(id: string): Promise<StoredOAuthClient | undefined> {
      const row = await db.selectFrom('oauth_clients').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toClient(row);
    },

    async listActive(): Promise<StoredOAuthClient[]> {
      const rows = await db.selectFrom('oauth_clients').selectAll().where('revoked_at', 'is', null).orderBy('created_at').orderBy(insertionOrder(dialect)).execute();
      return rows.map(toClient);
    },

    /** Marks the client revoked; false if it does not exist or already was. */
    async revoke(id: string, at: string): Promise<boolean> {
      const result = await db.updateTable('oauth_clients').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    async touch(id: string, at: string): Promise<void> {
      await db.updateTable('oauth_clients').set({ last_used_at: at }).where('id', '=', id).execute();
    },
  };
}

export type OAuthClientStore = ReturnType<typeof createOAuthClientStore>;
