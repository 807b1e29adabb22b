import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { type Kysely, Migrator, sql } from 'kysely';
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

it('0007 on SQLite: events keep their ids, seqs and data, new ones follow on, and appends no longer write sqlite_sequence', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-migrate-'));
  const database = openDatabase({ url: join(dir, 'roster.db') });
  try {
    // The database as 0006 left it, with events written through that schema.
    const before0007 = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0007'));
    const migrator = new Migrator({
      db: database.db,
      provider: { getMigrations: async () => Object.fromEntries(Object.entries(before0007).map(([name, m]) => [name, { up: (db: Kysely<unknown>) => m.up(db, 'sqlite') }])) },
      migrationTableName: 'roster_migrations',
      migrationLockTableName: 'roster_migrations_lock',
    });
    assert.equal((await migrator.migrateToLatest()).error, undefined);
    const row = (n: number) => ({ id: `evt_old${n}`, type: 'user.updated', user_id: 'usr_a', actor_kind: 'api_key', actor_id: 'key_a', request_id: null, data: `{"n":${n}}`, created_at: '2026-01-01T00:00:00Z' });
    await database.db.insertInto('events').values([row(1), row(2), row(3)]).execute();
    assert.match((await sql<{ sql: string }>`select sql from sqlite_master where name = 'events'`.execute(database.db)).rows[0].sql, /autoincrement/i);

    assert.deepEqual(await migrateToLatest(database), ALL.filter((name) => name >= '0007'));
    const kept = await database.db.selectFrom('events').select(['seq', 'id', 'data']).orderBy('seq').execute();
    assert.deepEqual(kept, [1, 2, 3].map((n) => ({ seq: n, id: `evt_old${n}`, data: `{"n":${n}}` })));
    assert.doesNotMatch((await sql<{ sql: string }>`select sql from sqlite_master where name = 'events'`.execute(database.db)).rows[0].sql, /autoincrement/i);
    const indexes = await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'events' and name not like 'sqlite_%' order by name`.execute(database.db);
    assert.deepEqual(indexes.rows.map((r) => r.name), ['events_type_seq', 'events_user_id_seq']);
    const sequenceOf = async () => (await sql<{ seq: number }>`select seq from sqlite_sequence where name = 'events'`.execute(database.db)).rows;
    const sequenceBefore = await sequenceOf();
    await database.db.insertInto('events').values(row(4)).execute();
    assert.equal((await database.db.selectFrom('events').select('seq').where('id', '=', 'evt_old4').executeTakeFirstOrThrow()).seq, 4);
    assert.deepEqual(await sequenceOf(), sequenceBefore);
    await assert.rejects(database.db.insertInto('events').values({ ...row(5), id: 'evt_old1' }).execute(), /UNIQUE/);
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it('refuses a database migrated by a newer Roster, naming what it does not know, in a dry run too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-newer-'));
  const database = openDatabase({ url: join(dir, 'roster.db') });
  try {
    await migrateToLatest(database);
    await sql`insert into roster_migrations (name, timestamp) values ('9999-from-the-future', '2099-01-01T00:00:00Z')`.execute(database.db);
    await assert.rejects(pendingMigrations(database), /migrated by a newer Roster \(it has 9999-from-the-future/);
    await assert.rejects(migrateToLatest(database), /migrated by a newer Roster/);
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
