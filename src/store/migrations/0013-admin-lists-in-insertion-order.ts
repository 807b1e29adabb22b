import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.js';

/**
 * PostgreSQL: API keys, OAuth clients and webhook endpoints get the insertion order that SQLite's
 * rowid gives them, for their lists' "oldest first" within a second (store/insertion-order.ts).
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  if (dialect !== 'postgres') return;
  for (const table of ['api_keys', 'oauth_clients', 'webhook_endpoints']) {
    await sql`alter table ${sql.table(table)} add column seq bigint generated always as identity`.execute(db);
  }
}
