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
  it('a background thread copies the WAL into the database file, with automatic checkpoints off; closing stops it', async () => {
    const file = await sqliteBackend.create();
    const database = openDatabase({ url: file.url, backgroundCheckpoints: true });
    try {
      // Nothing else may checkpoint, or the file below would grow without the thread.
      assert.equal(await pragma(database.db, 'wal_autocheckpoint'), 0);
      assert.equal(await pragma(database.db, 'journal_size_limit'), 64 * 1024 * 1024);
      await sql`create table filler (x blob)`.execute(database.db);
      const before = statSync(file.url).size;
      // About 4 MB: only a checkpoint moves WAL pages into the database file.
      await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < 1000) insert into filler select randomblob(4000) from n`.execute(database.db);
      await waitFor('the database file to hold the rows', async () => (statSync(file.url).size >= before + 4_000_000 ? true : undefined));
    } finally {
      await database.close();
    }
    // SQLite removes the WAL when its last connection closes: the thread's had closed first.
    assert.equal(existsSync(`${file.url}-wal`), false);
    await file.drop();
  });

  it('the connection checkpoints in its commits again when the thread dies', async () => {
    const file = await sqliteBackend.create();
    const conn = new SQLite(file.url);
    conn.pragma('journal_mode = WAL');
    // The thread opens the file by name and refuses to create one: it fails at once.
    renameSync(file.url, `${file.url}.moved`);
    const warnings: string[] = [];
    const checkpointer = startSqliteCheckpointer(conn, { synchronous: 'normal', onWarning: (message) => warnings.push(message) });
    try {
      assert.equal(conn.pragma('wal_autocheckpoint', { simple: true }), 0);
      await waitFor('automatic checkpoints back', async () => (conn.pragma('wal_autocheckpoint', { simple: true }) === 1000 ? true : undefined));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /checkpoint thread stopped/);
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

  it('runs for the server only: the CLI beside it keeps automatic checkpoints', async () => {
    const server = await startTestServer();
    try {
      assert.equal(await pragma(server.server.runtime.database.db, 'wal_autocheckpoint'), 0);
      // What every `roster` subcommand opens, on the same file as the server.
      const cli = await withRuntime(configWith({ databaseUrl: server.databaseUrl }), (runtime) => pragma(runtime.database.db, 'wal_autocheckpoint'));
      assert.equal(cli, 1000);
    } finally {
      await server.stop();
    }
  });
});
