import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { type Database, openDatabase } from '../../src/store/database.js';
import { createStore } from '../../src/store/index.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { sqliteDialect } from '../../src/store/sqlite-dialect.js';
import { holdConnection, registerDirect, releaseConnection } from '../../src/store/sqlite-direct.js';
import { createGroupCommit } from '../../src/store/sqlite-group-commit.js';
import type { Tables } from '../../src/store/tables.js';

const insert = (db: Kysely<Tables>, name: string) => sql`insert into notes (name) values (${name})`.execute(db);

/** Runs `start` from a callback of its own in the next event-loop turn, as requests read from several sockets are. */
const inOwnCallback = <T>(start: () => Promise<T>) => new Promise<T>((resolve, reject) => setImmediate(() => start().then(resolve, reject)));

/** A database file of its own, and a second connection to it, as another process (the CLI) would open. */
function scratchDatabase(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const database = openDatabase({ url: join(dir, 'roster.db') });
  const other = new SQLite(join(dir, 'roster.db'));
  return {
    database,
    other,
    async close() {
      other.close();
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('SQLite group commit', () => {
  let scratch: ReturnType<typeof scratchDatabase>;
  let database: Database;
  let other: SQLite.Database;
  const committed = () => (other.prepare('select name from notes order by id').all() as { name: string }[]).map((r) => r.name);

  before(async () => {
    // The other connection sees only what is committed.
    scratch = scratchDatabase('roster-group-commit-');
    ({ database, other } = scratch);
    await sql`create table notes (id integer primary key, name text not null unique)`.execute(database.db);
  });
  after(() => scratch.close());

  it('commits transactions that arrive together once, and answers each after that commit', async () => {
    await sql`pragma wal_autocheckpoint = 0`.execute(database.db);
    const framesBefore = (other.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0].log;
    const names = Array.from({ length: 20 }, (_, i) => `together-${i}`);
    // What another connection saw committed at the moment each transaction was answered.
    const seen = await Promise.all(names.map((name) => inOwnCallback(() => database.transaction((db) => insert(db, name)).then(committed))));
    // Each answer came when its row was already visible to another connection.
    names.forEach((name, i) => assert.ok(seen[i].includes(name), `${name} committed before it was answered`));
    // One commit of one table page (plus its WAL header), not twenty.
    const frames = (other.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0].log - framesBefore;
    assert.ok(frames <= 3, `20 inserts wrote ${frames} WAL frames`);
    await sql`pragma wal_autocheckpoint = 1000`.execute(database.db);
  });

  it('a transaction that fails is undone alone; the others in its commit keep their writes', async () => {
    const results = await Promise.allSettled([
      database.transaction((db) => insert(db, 'kept-1')),
      database.transaction(async (db) => {
        await insert(db, 'undone');
        await insert(db, 'kept-1'); // unique violation: this transaction fails after a write
      }),
      database.transaction(async (db) => {
        await insert(db, 'kept-2');
        return 'value';
      }),
    ]);
    assert.equal(results[0].status, 'fulfilled');
    assert.equal(results[1].status, 'rejected');
    assert.match(String((results[1] as PromiseRejectedResult).reason), /UNIQUE/);
    assert.deepEqual(results[2], { status: 'fulfilled', value: 'value' });
    const names = committed();
    assert.ok(names.includes('kept-1') && names.includes('kept-2'));
    assert.ok(!names.includes('undone'), 'the failed transaction left nothing');
  });

  it("when SQLite ends a batch's transaction, every job in it fails, and the next batch works", async () => {
    // Each from its own callback of one turn, so that the three share a batch.
    const [first, ending, after] = await Promise.allSettled([
      inOwnCallback(() => database.transaction((db) => insert(db, 'lost-with-batch'))),
      inOwnCallback(() =>
        database.transaction(async (db) => {
          // As a disk error would: the whole transaction is gone, not just this job's part.
          await sql`rollback`.execute(db);
          throw new Error('disk gone');
        }),
      ),
      inOwnCallback(() => database.transaction((db) => insert(db, 'next-batch'))),
    ]);
    assert.equal(first.status, 'rejected', 'its write was undone with the batch, so it was not acknowledged');
    assert.equal(ending.status, 'rejected');
    assert.equal(after.status, 'fulfilled');
    const names = committed();
    assert.ok(!names.includes('lost-with-batch'));
    assert.ok(names.includes('next-batch'));
    await database.transaction((db) => insert(db, 'still-working'));
    assert.ok(committed().includes('still-working'));
  });

  it('a query outside the transactions waits for their commit, never reading what is not committed', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const writing = database.transaction(async (db) => {
      await insert(db, 'pending');
      await gate;
    });
    await new Promise((resolve) => setImmediate(resolve)); // the batch has started
    let read: string[] | undefined;
    const reading = database.db
      .selectFrom('notes' as never)
      .select('name' as never)
      .execute()
      .then((rows) => (read = (rows as { name: string }[]).map((r) => r.name)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(read, undefined, 'the read waited while the transaction was open');
    open();
    await Promise.all([writing, reading]);
    assert.ok(read!.includes('pending'), 'and then saw it committed');
  });

  it('more transactions than one commit takes are committed in several, all answered', async () => {
    const names = Array.from({ length: 100 }, (_, i) => `many-${i}`);
    await Promise.all(names.map((name) => database.transaction((db) => insert(db, name))));
    const all = committed();
    for (const name of names) assert.ok(all.includes(name));
  });
});

describe('SQLite group commit, while the checkpoint thread asks writes to hold', () => {
  it('the next transaction waits for the hold to end; reads go on meanwhile; then it commits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roster-hold-'));
    const conn = new SQLite(join(dir, 'roster.db'));
    conn.pragma('journal_mode = WAL');
    const db = new Kysely<Tables>({ dialect: sqliteDialect(conn, { taken: () => holdConnection(conn), released: () => releaseConnection(conn) }) });
    registerDirect(db, conn, false);
    // The thread's side of the contract (sqlite-checkpointer.ts): `writable` answers a promise
    // while it copies the last pages of the log, and nothing once it has let the writer go.
    let release: (() => void) | undefined;
    let commits = 0;
    const checkpointer = {
      committed: () => void commits++,
      writable: () => (release ? new Promise<void>((resolve) => (release = resolve)) : undefined),
    };
    const groupCommit = createGroupCommit(db, conn, checkpointer);
    const reader = new SQLite(join(dir, 'roster.db'));
    try {
      await sql`create table notes (id integer primary key, name text not null)`.execute(db);
      await groupCommit.transaction((trx) => insert(trx, 'before'));
      assert.equal(commits, 1);

      release = () => {};
      const held = groupCommit.transaction((trx) => insert(trx, 'held'));
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const names = await db.selectFrom('notes' as never).select('name' as never).execute();
        assert.deepEqual(names, [{ name: 'before' }], 'reads go on, and see nothing of the held write');
      }
      assert.equal(commits, 1, 'nothing committed during the hold');
      const end = release;
      release = undefined;
      end();
      await held;
      assert.equal(commits, 2);
      assert.deepEqual(reader.prepare('select name from notes order by id').pluck().all(), ['before', 'held']);
    } finally {
      reader.close();
      await db.destroy();
      if (conn.open) conn.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite statements run at once', () => {
  it('outside a transaction they wait while one is open, so they never read its uncommitted rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roster-direct-'));
    const database = openDatabase({ url: join(dir, 'roster.db') });
    try {
      await migrateToLatest(database);
      const store = createStore(database);
      const user = { id: 'usr_direct000001', email: 'd@example.com', username: 'direct', first_name: null, last_name: null, role: 'member', metadata: {}, created_at: '2026-01-01T00:00:00Z' };
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const writing = store.transaction(async (tx) => {
        await tx.users.insert(user);
        // Inside its own transaction, the statement sees the row at once.
        assert.equal((await tx.users.findById(user.id))?.email, user.email);
        await gate;
      });
      await new Promise((resolve) => setImmediate(resolve)); // the transaction is open
      let read: unknown = 'pending';
      const reading = store.users.findById(user.id).then((found) => (read = found?.email));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(read, 'pending', 'the read waited for the commit instead of reading the open transaction');
      open();
      await Promise.all([writing, reading]);
      assert.equal(read, user.email);
      // With no transaction open, the same statement answers at once.
      assert.equal((await store.users.findById(user.id))?.username, 'direct');
    } finally {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite reads outside transactions share one snapshot per event-loop turn', () => {
  let scratch: ReturnType<typeof scratchDatabase>;
  let database: Database;
  let other: SQLite.Database;
  const store = () => createStore(database);
  const user = { id: 'usr_snapshot0001', email: 's@example.com', username: 'snapshot', first_name: 'Before', last_name: null, role: 'member', metadata: {}, created_at: '2026-01-01T00:00:00Z' };
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

  before(async () => {
    scratch = scratchDatabase('roster-snapshot-');
    ({ database, other } = scratch);
    await migrateToLatest(database);
    await store().transaction((tx) => tx.users.insert(user));
  });
  after(() => scratch.close());

  it('within a turn they read one snapshot; the next turn sees what another process committed', async () => {
    await nextTurn();
    assert.equal((await store().users.findById(user.id))?.first_name, 'Before');
    other.prepare('update users set first_name = ? where id = ?').run('By the CLI', user.id);
    assert.equal((await store().users.findById(user.id))?.first_name, 'Before', 'the same turn reads the same snapshot');
    await nextTurn();
    assert.equal((await store().users.findById(user.id))?.first_name, 'By the CLI');
  });

  it("this process's own write ends the snapshot: it is committed at once, and read back in the same turn", async () => {
    await nextTurn();
    assert.ok(await store().users.findById(user.id)); // the turn's snapshot is open
    await database.db.updateTable('users').set({ first_name: 'Written' }).where('id', '=', user.id).execute();
    assert.equal((other.prepare('select first_name from users where id = ?').get(user.id) as { first_name: string }).first_name, 'Written', 'committed, not held in the snapshot');
    assert.equal((await store().users.findById(user.id))?.first_name, 'Written');
  });

  it("while another process holds the write lock, a transaction waits for it without stopping this process's reads", async () => {
    // `other` plays the other process (a second worker, the CLI): it holds the write lock.
    other.prepare('begin immediate').run();
    other.prepare('update users set last_name = ? where id = ?').run('Locked', user.id);
    const writing = store().transaction(async (tx) => {
      const current = await tx.users.findByIdForUpdate(user.id);
      assert.ok(await tx.users.update(user.id, current!.version, { first_name: 'After the lock' }, '2026-01-03T00:00:00Z'));
    });
    // The thread is free meanwhile: timers fire and reads are answered, from the last commit.
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal((await store().users.findById(user.id))?.last_name, null, 'a read while the write waits');
    }
    // Only a free thread can run this: SQLite's own wait would sleep it until busy_timeout.
    other.prepare('commit').run();
    await writing;
    const after = await store().users.findById(user.id);
    assert.equal(after?.first_name, 'After the lock');
    assert.equal(after?.last_name, 'Locked', 'the write began after the other commit, and kept it');
  });

  it("while another process holds the write lock, a write outside a transaction waits for it without stopping this process's reads", async () => {
    const key = { id: 'key_lockwait0001', name: 'lock', secretHash: 'ab'.repeat(32), scopes: ['read'], createdAt: '2026-01-01T00:00:00Z', expiresAt: null, rateLimitPerMinute: null };
    await store().apiKeys.insert(key);
    other.prepare('begin immediate').run();
    try {
      other.prepare('update users set last_name = ? where id = ?').run('Locked again', user.id);
      // A key's last_used_at is written on its own, off the request path, as the server does.
      const touching = store().apiKeys.touch(key.id, '2026-01-05T00:00:00Z');
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        assert.notEqual((await store().users.findById(user.id))?.last_name, 'Locked again', 'a read while the write waits');
      }
      // Only a free thread can run this: SQLite's own wait would sleep it until busy_timeout.
      other.prepare('commit').run();
      await touching;
    } finally {
      if (other.inTransaction) other.prepare('rollback').run();
    }
    assert.equal((await store().apiKeys.findById(key.id))?.lastUsedAt, '2026-01-05T00:00:00Z');
    // Kysely's own transactions (migrations, commands) take the lock the same way.
    other.prepare('begin immediate').run();
    const migrating = database.db.transaction().execute((trx) => trx.updateTable('users').set({ last_name: 'By Kysely' }).where('id', '=', user.id).execute());
    await new Promise((resolve) => setTimeout(resolve, 5));
    other.prepare('commit').run();
    await migrating;
    assert.equal((await store().users.findById(user.id))?.last_name, 'By Kysely');
  });

  it('a write lock held past busy_timeout (5 s) fails the waiting transaction with SQLITE_BUSY, as before', async () => {
    other.prepare('begin immediate').run();
    try {
      const started = Date.now();
      await assert.rejects(
        store().transaction((tx) => tx.users.update(user.id, 1, { first_name: 'Never' }, '2026-01-04T00:00:00Z')),
        (err: { code?: string }) => err.code === 'SQLITE_BUSY',
      );
      assert.ok(Date.now() - started >= 4900, 'it waited for busy_timeout');
    } finally {
      other.prepare('rollback').run();
    }
    assert.notEqual((await store().users.findById(user.id))?.first_name, 'Never');
  });

  it('a transaction after reads in the same turn commits, and later reads see it', async () => {
    await nextTurn();
    assert.ok(await store().users.findById(user.id));
    await store().transaction(async (tx) => {
      const current = await tx.users.findByIdForUpdate(user.id);
      assert.ok(await tx.users.update(user.id, current!.version, { first_name: 'In a transaction' }, '2026-01-02T00:00:00Z'));
    });
    assert.equal((await store().users.findById(user.id))?.first_name, 'In a transaction');
  });
});

/**
 * A WAL that never starts over grows by every write and slows every read with it. It starts over
 * only when a transaction begins after a checkpoint has copied all of it: without the thread, the
 * commits' own checkpoints see to that; beside it, the thread does, by holding the writer while it
 * copies the last pages. There the connection's own checkpoint is turned off, so that only the
 * thread can keep the log short: without the hold, these commits make it over 80 MB.
 */
for (const { mode, checkpointInBackground, commits, limit } of [
  { mode: 'commits checkpoint it', checkpointInBackground: false, commits: 6000, limit: 12_000_000 },
  { mode: 'the checkpoint thread alone', checkpointInBackground: true, commits: 15_000, limit: 40_000_000 },
]) {
  it(`continuous writes keep the WAL short (${mode}), so it starts over`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roster-wal-'));
    const database = openDatabase({ url: join(dir, 'roster.db'), checkpointInBackground });
    try {
      await sql`create table filler (x blob)`.execute(database.db);
      if (checkpointInBackground) await sql`pragma wal_autocheckpoint = 0`.execute(database.db);
      let largest = 0;
      for (let i = 0; i < commits; i++) {
        // 4 KB a commit, as fast as they come.
        await database.transaction((db) => sql`insert into filler select randomblob(4000)`.execute(db));
        if (i % 100 === 0) largest = Math.max(largest, statSync(join(dir, 'roster.db-wal')).size);
      }
      assert.ok(largest < limit, `the WAL reached ${largest} bytes`);
    } finally {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
