import { type Kysely, sql } from 'kysely';
import { openDatabase } from '../src/store/database.js';
import { migrateToLatest } from '../src/store/migrate.js';
import type { Tables } from '../src/store/tables.js';

/**
 * Bench users have ids computed from their index, so a load generator can pick a random existing
 * user without holding a million ids in memory: usr_b + the index in base 36, 11 characters.
 */
export function benchUserId(index: number): string {
  return `usr_b${index.toString(36).padStart(11, '0')}`;
}

// Rows per INSERT statement: 13 columns × 500 = 6,500 bound values, under the limits of both
// SQLite (32,766) and PostgreSQL (65,535). Statements per transaction: 20 (10,000 rows).
const ROWS_PER_STATEMENT = 500;
const STATEMENTS_PER_TRANSACTION = 20;

function row(index: number, createdAt: string) {
  const username = `bench${index}`;
  const email = `bench${index}@example.com`;
  return {
    id: benchUserId(index),
    email,
    email_key: email,
    username,
    username_key: username,
    first_name: 'Bench',
    first_name_key: 'bench',
    last_name: `User${index}`,
    last_name_key: `user${index}`,
    role: 'member',
    email_verified: 0,
    metadata: '{}',
    version: 1,
    created_at: createdAt,
    updated_at: createdAt,
  };
}

async function insertRange(db: Kysely<Tables>, from: number, to: number, createdAt: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (let start = from; start < to; start += ROWS_PER_STATEMENT) {
      const rows = [];
      for (let i = start; i < Math.min(to, start + ROWS_PER_STATEMENT); i++) rows.push(row(i, createdAt));
      await trx.insertInto('users').values(rows as never).execute();
    }
  });
}

/**
 * Migrates the database and bulk-inserts `count` users (bench0…bench{count-1}) in large
 * transactions: a million rows take seconds, where a million HTTP calls would take minutes.
 * Returns the seq of the last user, for cursors deep in the table.
 */
export async function seedUsers(url: string, count: number): Promise<{ lastSeq: number; seconds: number }> {
  const started = performance.now();
  const database = openDatabase({ url, poolSize: 2 });
  try {
    await migrateToLatest(database);
    // Bench data only: no waiting for the disk while seeding (the server reopens it with its own settings).
    if (database.dialect === 'sqlite') await sql`pragma synchronous = off`.execute(database.db);
    const createdAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const perTransaction = ROWS_PER_STATEMENT * STATEMENTS_PER_TRANSACTION;
    for (let from = 0; from < count; from += perTransaction) {
      await insertRange(database.db, from, Math.min(count, from + perTransaction), createdAt);
    }
    const last = await database.db.selectFrom('users').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirstOrThrow();
    return { lastSeq: Number(last.seq), seconds: (performance.now() - started) / 1000 };
  } finally {
    await database.close();
  }
}
