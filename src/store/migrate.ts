import { type Migration, type MigrationResultSet, Migrator } from 'kysely';
import type { Database } from './database.js';
import { migrations } from './migrations/index.js';

function migrator(database: Database): Migrator {
  const bound: Record<string, Migration> = {};
  for (const [name, m] of Object.entries(migrations)) {
    bound[name] = { up: (db) => m.up(db, database.dialect) };
  }
  return new Migrator({
    db: database.db,
    provider: { getMigrations: async () => bound },
    migrationTableName: 'roster_migrations',
    migrationLockTableName: 'roster_migrations_lock',
  });
}

/** Names of the migrations not yet applied to this database. */
export async function pendingMigrations(database: Database): Promise<string[]> {
  const all = await migrator(database).getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}

/** Applies every pending migration; throws with the failing migration's name and cause. */
export async function migrateToLatest(database: Database): Promise<string[]> {
  const { error, results }: MigrationResultSet = await migrator(database).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
