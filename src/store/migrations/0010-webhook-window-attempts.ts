import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.js';

/**
 * Each delivery counts its attempts in the current retry window apart from its total: a manual
 * retry opens a new window, and its backoff must start again at the base delay, while `attempts`
 * (on the wire) keeps counting every attempt ever made. Existing rows take their total, which is
 * the delay they were already on. The default is there because SQLite adds a NOT NULL column
 * only with one; the same statements serve both dialects.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .alterTable('webhook_deliveries')
    .addColumn('window_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`update webhook_deliveries set window_attempts = attempts`.execute(db);
}
