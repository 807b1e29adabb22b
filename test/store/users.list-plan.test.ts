import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { type CompiledQuery, Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { sqlitePath } from '../../src/store/database.js';
import type { Tables } from '../../src/store/tables.js';
import { type UserFilter, createUserStore } from '../../src/store/users.js';
import { describeEachBackend } from '../helpers/backends.js';
import { seedUsers } from '../helpers/seed.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

/**
 * "Page 1,000 costs what page 1 costs" (the issue), shown without timing anything: the exact
 * query the store runs for a page is planned as an index range scan that starts at the cursor
 * and needs no sort, so no row before the cursor is ever read.
 */
await describeEachBackend('the users list query plan', (backend) => {
  let server: TestServer;
  let captured: CompiledQuery[];
  let db: Kysely<Tables>;
  let explain: (q: CompiledQuery) => Promise<string>;
  let close: () => Promise<void>;

  before(async () => {
    // The server creates and migrates the database; a second connection records what the store sends.
    server = await startTestServer({ backend });
    const roles = ['admin', 'member', 'viewer'];
    await seedUsers(
      server,
      Array.from({ length: 2000 }, (_, i) => ({ email: `plan${i}@example.com`, username: `plan_${i}`, first_name: `Name${i}`, role: roles[i % 3] })),
    );
    captured = [];
    const log = (event: { level: string; query: CompiledQuery }) => {
      if (event.level === 'query') captured.push(event.query);
    };
    if (backend.name === 'sqlite') {
      const conn = new SQLite(sqlitePath(server.databaseUrl));
      db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: conn }), log });
      explain = async (q) =>
        (conn.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...(q.parameters as unknown[])) as { detail: string }[]).map((r) => r.detail).join('\n');
      conn.exec('ANALYZE');
      close = () => db.destroy();
    } else {
      const pool = new pg.Pool({ connectionString: server.databaseUrl, max: 2 });
      db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }), log });
      await pool.query('ANALYZE users');
      explain = async (q) => {
        const client = await pool.connect();
        try {
          // With sequential scans priced out, the planner shows whether an index can serve the
          // query in order; a Sort node would mean it cannot.
          await client.query('set enable_seqscan = off');
          await client.query('set enable_bitmapscan = off');
          const res = await client.query(`EXPLAIN ${q.sql}`, q.parameters as unknown[]);
          return res.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
        } finally {
          client.release();
        }
      };
      close = () => db.destroy();
    }
  });
  after(async () => {
    await close();
    await server.stop();
  });

  async function planOf(filter: UserFilter, afterSeq: number): Promise<string> {
    captured.length = 0;
    await createUserStore(db, backend.name).list(filter, afterSeq, 21);
    assert.equal(captured.length, 1);
    return explain(captured[0]);
  }

  for (const [label, filter] of [
    ['no filter', {}],
    ['a role', { role: 'member' }],
    ['a prefix search', { q: 'jan' }],
  ] as [string, UserFilter][]) {
    it(`a deep page with ${label} starts at the cursor and sorts nothing`, async () => {
      const plan = await planOf(filter, 1_000_000);
      if (backend.name === 'sqlite') {
        assert.match(plan, /SEARCH users USING (INTEGER PRIMARY KEY \(rowid>\?\)|INDEX users_role_seq \(role=\? AND (rowid|seq)>\?\))/, plan);
        assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
      } else {
        assert.match(plan, /Index (Only )?Scan using (users_pkey|users_role_seq)/, plan);
        assert.match(plan, /Index Cond: .*seq > /, plan);
        assert.doesNotMatch(plan, /\bSort\b/, plan);
      }
    });
  }
});
