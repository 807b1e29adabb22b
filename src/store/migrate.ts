import { type Kysely, type Migration, type MigrationResultSet, Migrator, sql } from 'kysely';
import type { Database } from './database.js';
import { migrations } from './migrations/index.js';
import type { Tables } from './tables.js';

/**
 * Key of the session-level advisory lock that serializes migrations across processes. Kysely's
 * own lock lives in a table that it creates first, and that creation races when several
 * instances start together on an empty database; an advisory lock needs no table.
 */
const MIGRATION_LOCK_KEY = 0x726f7374; // "rost"

function migrator(database: Database, db: Kysely<Tables> = database.db, disableTransactions = false): Migrator {
  const bound: Record<string, Migration> = {};
  for (const [name, m] of Object.entries(migrations)) {
    bound[name] = { up: (conn) => m.up(conn, database.dialect) };
  }
  return new Migrator({
    db,
    provider: { getMigrations: async () => bound },
    migrationTableName: 'roster_migrations',
    migrationLockTableName: 'roster_migrations_lock',
    disableTransactions,
  });
}

/** The database cannot be brought to this version: a newer Roster migrated it, or a migration failed. */
export class MigrationError extends Error {}

/**
 * Throws if the database has migrations this version does not know: a newer Roster migrated it,
 * and this one would misread its tables (Kysely would only say "corrupted migrations").
 */
async function refuseNewerDatabase(db: Kysely<Tables>): Promise<void> {
  let applied: string[];
  try {
    applied = (await sql<{ name: string }>`select name from roster_migrations`.execute(db)).rows.map((r) => r.name);
  } catch {
    return; // No migrations table yet: a new database.
  }
  const unknown = applied.filter((name) => !Object.hasOwn(migrations, name));
  if (unknown.length > 0) {
    throw new MigrationError(`the database was migrated by a newer Roster (it has ${unknown.join(', ')}, which this version does not know): run that version or a later one`);
  }
}

/** Names of the migrations not yet applied to this database. */
export async function pendingMigrations(database: Database): Promise<string[]> {
  await refuseNewerDatabase(database.db);
  const all = await migrator(database).getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}

function check({ error, results }: MigrationResultSet): string[] {
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new MigrationError(`migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * SQLite: the whole run is one `BEGIN IMMEDIATE` transaction, which takes the file's write lock
 * before reading what is applied. Kysely's own SQLite lock only guards one connection, so the
 * CLI and a server starting together could both try to apply the same migration.
 */
async function migrateSqlite(database: Database): Promise<string[]> {
  return database.db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      await refuseNewerDatabase(conn);
      const applied = check(await migrator(database, conn, true).migrateToLatest());
      await sql`commit`.execute(conn);
      return applied;
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => {});
      throw err;
    }
  });
}

/**
 * Applies every pending migration and returns their names; throws with the failing migration's
 * name and cause. On PostgreSQL the whole run holds an advisory lock on one connection, so of
 * several instances starting at once one migrates and the others wait, then find nothing to do.
 */
export async function migrateToLatest(database: Database): Promise<string[]> {
  if (database.dialect === 'sqlite') return migrateSqlite(database);
  return database.db.connection().execute(async (conn) => {
    // Waiting for another instance's migration, or a long migration itself, must not be cut
    // short by DATABASE_STATEMENT_TIMEOUT_MS; RESET restores it before the connection goes back.
    await sql`set statement_timeout = 0`.execute(conn);
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(conn);
    try {
      await refuseNewerDatabase(conn);
      return check(await migrator(database, conn).migrateToLatest());
    } finally {
      // If the connection broke, the session and its lock are gone with it.
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(conn).catch(() => {});
      await sql`reset statement_timeout`.execute(conn).catch(() => {});
    }
  });
}
