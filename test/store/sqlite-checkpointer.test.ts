import assert from 'node:assert/strict';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import { type Kysely, sql } from 'kysely';
import { withRuntime } from '../../src/cli/args.js';
import { openDatabase } from '../../src/store/database.js';
import { startCheckpointer } from '../../src/store/sqlite-checkpointer.js';
import type { Tables } from '../../src/store/tables.js';
import { sqliteBackend } from '../helpers/backends.js';
import { descriptorsOf } from '../helpers/descriptors.js';
import { startTestServer } from '../helpers/server.js';

/** What the database file itself holds, without its write-ahead log: read from a copy of the file alone. */
function notesInFile(path: string): string[] {
  const copy = `${path}.copy`;
  for (const suffix of ['', '-wal', '-shm']) rmSync(copy + suffix, { force: true });
  copyFileSync(path, copy);
  const conn = new SQLite(copy);
  try {
    return (conn.prepare('select name from notes').all() as { name: string }[]).map((r) => r.name);
  } catch {
    return []; // the table itself is not in the file yet
  } finally {
    conn.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(copy + suffix, { force: true });
  }
}

async function eventually(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
}

describe('SQLite checkpoints on a thread of their own', () => {
  it('copies commits into the database file while the server connection checkpoints only past 8,000 pages', async () => {
    const file = await sqliteBackend.create();
    const database = openDatabase({ url: file.url, checkpointInBackground: true });
    try {
      const autocheckpoint = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(database.db);
      assert.equal(autocheckpoint.rows[0].wal_autocheckpoint, 8000);
      await sql`create table notes (id integer primary key, name text not null)`.execute(database.db);
      await database.transaction((db) => sql`insert into notes (name) values ('first')`.execute(db));
      await database.transaction((db) => sql`insert into notes (name) values ('second')`.execute(db));
      // Two small commits are far below any automatic checkpoint of the server's connection: only
      // the thread can have put them in the file.
      await eventually('both commits in the database file', () => notesInFile(file.url).length === 2);
      assert.deepEqual(notesInFile(file.url), ['first', 'second']);
    } finally {
      await database.close();
    }
    // The thread's connection closed first, so the server's, closing last, folded the log in.
    assert.equal(existsSync(`${file.url}-wal`), false, 'no write-ahead log is left after close');
    await file.drop();
  });

  it('keeps a descriptor of the file for its fsync while the database is open, and closes it after', async () => {
    const file = await sqliteBackend.create();
    const database = openDatabase({ url: file.url, checkpointInBackground: true });
    try {
      // The server's connection, the thread's and the one the thread flushes through.
      await eventually('the thread opened the file', () => descriptorsOf(file.url) === 3);
    } finally {
      await database.close();
    }
    assert.equal(descriptorsOf(file.url), 0);
    await file.drop();
  });

  it('the server opens its SQLite file so; a `roster` command checkpoints as SQLite does', async () => {
    const server = await startTestServer();
    try {
      const pages = async (db: Kysely<Tables>) => (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(db)).rows[0].wal_autocheckpoint;
      assert.equal(await pages(server.server.runtime.database.db), 8000);
      // What `roster keys …`, `roster clients …` and `roster signing-keys …` open.
      assert.equal(await withRuntime(server.server.runtime.config, (cli) => pages(cli.database.db)), 1000);
    } finally {
      await server.stop();
    }
  });

  it('a thread that cannot open the file says why and hands checkpoints back to the connection', async () => {
    const file = await sqliteBackend.create();
    const conn = new SQLite(file.url);
    conn.pragma('journal_mode = WAL');
    let heard: unknown;
    const checkpointer = startCheckpointer(conn, join(file.url, 'not-a-directory', 'roster.db'), (err) => {
      heard = err;
    });
    try {
      assert.equal(conn.pragma('wal_autocheckpoint', { simple: true }), 8000);
      await eventually('the thread fails', () => heard !== undefined);
      assert.match(String(heard), /Cannot open database because the directory does not exist/);
      await eventually('checkpoints back on the connection', () => conn.pragma('wal_autocheckpoint', { simple: true }) === 1000);
      checkpointer.committed(); // harmless once the thread is gone
      await checkpointer.close();
    } finally {
      conn.close();
      await file.drop();
    }
  });
});
