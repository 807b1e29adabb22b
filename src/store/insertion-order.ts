import { type RawBuilder, sql } from 'kysely';
import type { Dialect } from './database.js';

/**
 * The order rows were inserted in, for the lists that are "oldest first" by `created_at`, which
 * has a second's precision: rows made in the same second came back in random-id order. SQLite's
 * rowid, on PostgreSQL the `seq` identity column of migration 0013.
 */
export function insertionOrder(dialect: Dialect): RawBuilder<unknown> {
  return dialect === 'sqlite' ? sql`rowid` : sql`seq`;
}
