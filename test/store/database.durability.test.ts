import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { ConfigError, loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/store/database.js';
import { sqliteBackend } from '../helpers/backends.js';
import { descriptorsOf } from '../helpers/descriptors.js';

async function pragmas(sqliteSynchronous?: 'normal' | 'full') {
  const file = await sqliteBackend.create();
  const database = openDatabase({ url: file.url, sqliteSynchronous });
  try {
    const journal = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(database.db);
    const sync = await sql<{ synchronous: number }>`pragma synchronous`.execute(database.db);
    const cache = await sql<{ cache_size: number }>`pragma cache_size`.execute(database.db);
    return { journal: journal.rows[0].journal_mode, synchronous: sync.rows[0].synchronous, cacheSize: cache.rows[0].cache_size };
  } finally {
    await database.close();
    await file.drop();
  }
}

describe('SQLite durability and cache settings', () => {
  it('runs in WAL mode with synchronous=NORMAL and a 4 MiB page cache by default', async () => {
    assert.deepEqual(await pragmas(), { journal: 'wal', synchronous: 1, cacheSize: -4096 });
    assert.equal(loadConfig({}).sqliteSynchronous, 'normal');
  });

  it('uses synchronous=FULL with SQLITE_SYNCHRONOUS=full', async () => {
    assert.equal(loadConfig({ SQLITE_SYNCHRONOUS: 'full' }).sqliteSynchronous, 'full');
    assert.deepEqual(await pragmas('full'), { journal: 'wal', synchronous: 2, cacheSize: -4096 });
  });

  it('refuses any other value, naming the variable', () => {
    assert.throws(() => loadConfig({ SQLITE_SYNCHRONOUS: 'off' }), (err: Error) => err instanceof ConfigError && /SQLITE_SYNCHRONOUS/.test(err.message));
  });
});

describe('Closing a SQLite database', () => {
  for (const queried of [false, true]) {
    it(`leaves no descriptor of its file open${queried ? '' : ', even if it never ran a query'}`, async () => {
      const file = await sqliteBackend.create();
      const database = openDatabase({ url: file.url });
      try {
        assert.equal(descriptorsOf(file.url), 1);
        if (queried) await sql`select 1`.execute(database.db);
      } finally {
        await database.close();
      }
      assert.equal(descriptorsOf(file.url), 0);
      await file.drop();
    });
  }
});
