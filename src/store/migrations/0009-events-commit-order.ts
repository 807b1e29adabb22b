import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.js';

/**
 * PostgreSQL: each event records the id of the transaction that wrote it, so the feed can be read
 * in an order no later commit can slip behind (store/events.ts). A `seq` is taken at insert but
 * seen at commit, and concurrent transactions commit out of `seq` order: a reader following
 * `seq` could pass an event that committed a moment later, and never see it. SQLite commits one
 * writer at a time, in `seq` order, and needs nothing. Rows written before this migration all
 * carry its transaction's id, and so keep their `seq` order among themselves.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`alter table events add column tx xid8 not null default pg_current_xact_id()`.execute(db);
  await db.schema.createIndex('events_tx_seq').on('events').columns(['tx', 'seq']).execute();
}
