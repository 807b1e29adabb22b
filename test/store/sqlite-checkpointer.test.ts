import assert from 'node:assert/strict';
import { existsSync, renameSync, statSync } from 'node:fs';
import { describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { withRuntime } from '../../src/cli/args.js';
import { configWith } from '../../src/config.js';
import { type Database, openDatabase } from '../../src/store/database.js';
import { startSqliteCheckpointer } from '../../src/store/sqlite-checkpointer.js';
import { sqliteBackend } from '../helpers/backends.js';
import { startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

async function pragma(db: Database['db'], name: string): Promise<number> {
  const rows = await sql<Record<string, number>>`${sql.raw(`pragma ${name}`)}`.execute(db);
  return Object.values(rows.rows[0])[0];
}

describe('SQLite checkpoints off the event loop', () => {
  it('a background thread copies the WAL into the database file between the commits that would; closing stops it', async () => {
    const file = await sqliteBackend.create();
    const database = openDatabase({ url: file.url, backgroundCheckpoints: true });
    try {
      assert.equal(await pragma(database.db, 'wal_autocheckpoint'), 1000);
      assert.equal(await pragma(database.db, 'journal_size_limit'), 64 * 1024 * 1024);
      await sql`create table filler (x blob)`.execute(database.db);
      const before = statSync(file.url).size;
      // About 2 MB, 500 pages: below the 1000 at which a commit would checkpoint, so only the
      // thread moves them into the database file.
      await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < 500) insert into filler select randomblob(4000) from n`.execute(database.db);
      await waitFor('the database file to hold the rows', async () => (statSync(file.url).size >= before + 2_000_000 ? true : undefined));
    } finally {
      await database.close();
    }
    // SQLite removes the WAL when its last connection closes: the thread's had closed first.
    assert.equal(existsSync(`${file.url}-wal`), false);
    await file.drop();
  });

  it('keeps the WAL short under continuous writes', async () => {
    // The thread's passive checkpoints alone never let the WAL start over while commits keep
    // coming: it grew by the size of every write (300 MB in 30 s of the benchmark's PATCHes).
    const file = await sqliteBackend.create();
    const database = openDatabase({ url: file.url, backgroundCheckpoints: true });
    try {
      await sql`create table filler (x blob)`.execute(database.db);
      let largest = 0;
      for (let i = 0; i < 6000; i++) {
        // 24 MB in all, one page a commit, as fast as they come.
        await database.transaction((db) => sql`insert into filler select randomblob(4000)`.execute(db));
        if (i % 100 === 0) largest = Math.max(largest, statSync(`${file.url}-wal`).size);
      }
      assert.ok(largest < 12_000_000, `the WAL reached ${largest} bytes`);
    } finally {
      await database.close();
      await file.drop();
    }
  });

  it('only warns when the thread dies: the connection checkpoints in its commits all along', async () => {
    const file = await sqliteBackend.create();
    const conn = new SQLite(file.url);
    conn.pragma('journal_mode = WAL');
    // The thread opens the file by name and refuses to create one: it fails at once.
    renameSync(file.url, `${file.url}.moved`);
    const warnings: string[] = [];
    const checkpointer = startSqliteCheckpointer(conn, { synchronous: 'normal', onWarning: (message) => warnings.push(message) });
    try {
      await waitFor('the warning', async () => (warnings.length > 0 ? true : undefined));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /checkpoint thread stopped/);
      assert.equal(conn.pragma('wal_autocheckpoint', { simple: true }), 1000);
    } finally {
      await checkpointer.stop();
      conn.close();
      await file.drop();
    }
  });

  it('is ignored for an in-memory database, which keeps automatic checkpoints', async () => {
    const memory = openDatabase({ url: ':memory:', backgroundCheckpoints: true });
    try {
      assert.equal(await pragma(memory.db, 'wal_autocheckpoint'), 1000);
    } finally {
      await memory.close();
    }
  });

  it('runs for the server only: the CLI beside it has no thread and SQLite defaults', async () => {
    const server = await startTestServer();
    try {
      // The thread comes with the WAL size limit; SQLite's default is no limit (-1).
      assert.equal(await pragma(server.server.runtime.database.db, 'journal_size_limit'), 64 * 1024 * 1024);
      // What every `roster` subcommand opens, on the same file as the server.
      const cli = await withRuntime(configWith({ databaseUrl: server.databaseUrl }), (runtime) => pragma(runtime.database.db, 'journal_size_limit'));
      assert.equal(cli, -1);
    } finally {
      await server.stop();
    }
  });
});
