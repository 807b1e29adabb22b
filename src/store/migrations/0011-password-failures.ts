import type { Kysely } from 'kysely';
import type { Dialect } from '../database.js';

/**
 * Failed password checks, one row each, so that "10 failures in 15 minutes" is counted over any
 * 15 minutes: a fixed window let 9 failures at its end and 10 more at the start of the next pass.
 * In the database, so that every instance shares the count without Redis.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const sqlite = dialect === 'sqlite';
  await db.schema
    .createTable('password_failures')
    .addColumn('id', sqlite ? 'integer' : 'bigint', (c) => (sqlite ? c.primaryKey().autoIncrement() : c.primaryKey().generatedAlwaysAsIdentity()))
    .addColumn('user_id', 'text', (c) => c.notNull())
    // Epoch milliseconds.
    .addColumn('failed_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('password_failures_user_id').on('password_failures').columns(['user_id', 'failed_at']).execute();
  await db.schema.createIndex('password_failures_failed_at').on('password_failures').column('failed_at').execute();
}
