import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.js';

/**
 * PostgreSQL: `metadata` and event `data` become `json`, which keeps the text as written, where
 * `jsonb` reordered object keys (shorter keys first): metadata came back in another order than
 * sent, and events and webhook bodies showed the user's fields scrambled. Nothing queries inside
 * them, so nothing needed jsonb. Values already stored keep jsonb's order. SQLite stores text.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`alter table users alter column metadata type json using metadata::json`.execute(db);
  await sql`alter table events alter column data type json using data::json`.execute(db);
}
