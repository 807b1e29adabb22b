import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../../src/store/database.js';
import { migrateToLatest, pendingMigrations } from '../../src/store/migrate.js';
import { migrations } from '../../src/store/migrations/index.js';
import { describeWithServices, postgresBackend } from '../helpers/backends.js';

const ALL = Object.keys(migrations).sort();

// In one process only PostgreSQL can stand for several instances (separate pools); better-sqlite3
// is synchronous, so SQLite's cross-process case is shown with real processes in test/cli/migrate.test.ts.
await describeWithServices('migrations on PostgreSQL', ['postgres'], () => {
  let db: { url: string; drop(): Promise<void> };
  before(async () => {
    db = await postgresBackend.create();
  });
  after(() => db.drop());

  it('several processes migrating one empty database at once apply each migration exactly once', async () => {
    // Separate pools stand for separate instances: nothing is shared but the database.
    const instances = Array.from({ length: 5 }, () => openDatabase({ url: db.url, poolSize: 2, statementTimeoutMs: 5000 }));
    try {
      assert.deepEqual(await pendingMigrations(instances[0]), ALL);
      const applied = await Promise.all(instances.map((d) => migrateToLatest(d)));
      assert.deepEqual(applied.flat().sort(), ALL, 'every migration applied once, by some instance');
      assert.equal(applied.filter((names) => names.length > 0).length, 1, 'one instance migrated, the others found nothing to do');
      const rows = await sql<{ name: string }>`select name from roster_migrations order by name`.execute(instances[1].db);
      assert.deepEqual(rows.rows.map((r) => r.name), ALL);
      for (const d of instances) assert.deepEqual(await pendingMigrations(d), []);
    } finally {
      await Promise.all(instances.map((d) => d.close()));
    }
  });
});
