import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.js';

/**
 * SQLite: `events.seq` becomes a plain rowid alias instead of AUTOINCREMENT. AUTOINCREMENT only
 * differs when the row holding the largest seq is deleted, and events are never deleted (erasure
 * rewrites their data); what it costs is a write to `sqlite_sequence` in every transaction that
 * records an event, about a sixth of a PATCH's time in SQLite. SQLite cannot drop AUTOINCREMENT
 * in place, so the table is rebuilt. PostgreSQL's identity column costs nothing of the kind.
 * The columns repeat 0002's on purpose: a released migration never changes, so none shares code.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  if (dialect !== 'sqlite') return;
  await db.schema
    .createTable('events_rowid')
    .addColumn('seq', 'integer', (c) => c.primaryKey())
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('actor_kind', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text')
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await sql`insert into events_rowid (seq, id, type, user_id, actor_kind, actor_id, request_id, data, created_at)
    select seq, id, type, user_id, actor_kind, actor_id, request_id, data, created_at from events`.execute(db);
  await db.schema.dropTable('events').execute();
  await db.schema.alterTable('events_rowid').renameTo('events').execute();
  await db.schema.createIndex('events_user_id_seq').on('events').columns(['user_id', 'seq']).execute();
  await db.schema.createIndex('events_type_seq').on('events').columns(['type', 'seq']).execute();
}
