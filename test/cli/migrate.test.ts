import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { afterEach, it } from 'node:test';
import { type Kysely, Migrator, sql } from 'kysely';
import { openDatabase } from '../../src/store/database.js';
import { pendingMigrations } from '../../src/store/migrate.js';
import { migrations } from '../../src/store/migrations/index.js';
import { type Backend, describeEachBackend } from '../helpers/backends.js';
import { runRoster } from '../helpers/roster-process.js';

const ALL = Object.keys(migrations).sort();

async function appliedIn(url: string): Promise<string[] | null> {
  const database = openDatabase({ url, poolSize: 1 });
  try {
    const tables = await database.db.introspection.getTables({ withInternalKyselyTables: true });
    if (!tables.some((t) => t.name === 'roster_migrations')) return null;
    const rows = await sql<{ name: string }>`select name from roster_migrations order by name`.execute(database.db);
    return rows.rows.map((r) => r.name);
  } finally {
    await database.close();
  }
}

await describeEachBackend('roster migrate', (backend: Backend) => {
  const drops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (drops.length) await drops.pop()!();
  });
  async function fresh(): Promise<string> {
    const db = await backend.create();
    drops.push(db.drop);
    return db.url;
  }

  // One walk through, to keep process starts few: a dry run, then three concurrent runs.
  it('--dry-run lists and changes nothing; three processes migrating at once apply everything once; then nothing is pending (the "Up to date" answer above)', async () => {
    const url = await fresh();
    const dry = await runRoster(['migrate', '--dry-run'], { DATABASE_URL: url });
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout, `Would apply:\n${ALL.join('\n')}\n`);
    if (backend.name === 'sqlite') assert.equal(existsSync(url), false, 'a dry run does not even create the file');
    assert.equal(await appliedIn(url), null, 'a dry run creates nothing');

    const results = await Promise.all([1, 2, 3].map(() => runRoster(['migrate'], { DATABASE_URL: url })));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const outputs = results.map((r) => r.stdout).sort();
    assert.deepEqual(outputs, [`Applied:\n${ALL.join('\n')}\n`, 'Up to date: nothing to apply.\n', 'Up to date: nothing to apply.\n']);
    assert.deepEqual(await appliedIn(url), ALL);

    const database = openDatabase({ url, poolSize: 1 });
    try {
      assert.deepEqual(await pendingMigrations(database), []);
    } finally {
      await database.close();
    }
  });

  it('a command other than migrate says which migrations it applied, and that it set up a new database', async () => {
    const url = await fresh();
    const made = await runRoster(['keys', 'create', '--name', 'first', '--scopes', 'read'], { DATABASE_URL: url });
    assert.equal(made.code, 0, made.stderr);
    assert.equal(made.stderr, 'roster: set up a new database (DATABASE_URL)\n');
    assert.equal((await runRoster(['keys', 'list'], { DATABASE_URL: url })).stderr, '', 'nothing to say when nothing was pending');

    // The database as the release before the last two migrations left it.
    const older = await fresh();
    const database = openDatabase({ url: older, poolSize: 1 });
    const kept = ALL.slice(0, -2);
    try {
      const migrator = new Migrator({
        db: database.db,
        provider: {
          getMigrations: async () =>
            Object.fromEntries(kept.map((name) => [name, { up: (db: Kysely<unknown>) => migrations[name].up(db, database.dialect) }])),
        },
        migrationTableName: 'roster_migrations',
        migrationLockTableName: 'roster_migrations_lock',
      });
      assert.equal((await migrator.migrateToLatest()).error, undefined);
    } finally {
      await database.close();
    }
    const listed = await runRoster(['keys', 'list'], { DATABASE_URL: older });
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stderr, `roster: applied pending migrations to the database (DATABASE_URL): ${ALL.slice(-2).join(', ')}\n`);
    assert.deepEqual(await appliedIn(older), ALL);
  });

  it('stops serve and migrate with one line naming DATABASE_URL on a database a newer Roster migrated', async () => {
    const url = await fresh();
    assert.equal((await runRoster(['migrate'], { DATABASE_URL: url })).code, 0);
    const database = openDatabase({ url, poolSize: 1 });
    try {
      await sql`insert into roster_migrations (name, timestamp) values ('9999-from-the-future', '2099-01-01T00:00:00.000Z')`.execute(database.db);
    } finally {
      await database.close();
    }
    for (const args of [['serve'], ['migrate'], ['migrate', '--dry-run']]) {
      const r = await runRoster(args, { DATABASE_URL: url, PORT: '0' });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^roster: cannot migrate the database \(DATABASE_URL\): the database was migrated by a newer Roster \(it has 9999-from-the-future[^\n]*\n$/, args.join(' '));
    }
  });
});
