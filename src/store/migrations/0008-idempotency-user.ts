import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.js';

/**
 * A kept response names the user it holds (a created or updated user), so that deleting the
 * user erases it there as in the user's events; the index finds them in the deleting transaction.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('idempotency_keys').addColumn('user_id', 'text').execute();
  await db.schema.createIndex('idempotency_keys_user_id').on('idempotency_keys').column('user_id').where(sql.ref('user_id'), 'is not', null).execute();
}
