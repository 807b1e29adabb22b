import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pg from 'pg';
import { isUnavailableError } from '../../src/http/errors.js';
import { POSTGRES_ADMIN_URL, REDIS_TEST_URL, describeWithServices, dropRedisPrefix, postgresBackend, uniqueRedisPrefix } from '../helpers/backends.js';
import { type Client, uniqueUser } from '../helpers/client.js';
import { createClient, tokenRequest } from '../helpers/oauth.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { type TcpProxy, eventually, startTcpProxy } from '../helpers/tcp-proxy.js';

/** The same URL, reached through the proxy. */
function through(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}

function assertUnavailable(res: { status: number; headers: Headers; body: any }, what: string) {
  assert.equal(res.status, 503, what);
  assert.equal(res.body.error, 'service_unavailable', what);
  assert.equal(typeof res.body.message, 'string');
  assert.match(res.headers.get('retry-after') ?? '', /^[1-9]\d*$/, `${what}: Retry-After`);
}

await describeWithServices('PostgreSQL unreachable', ['postgres'], () => {
  let db: { url: string; drop(): Promise<void> };
  let proxy: TcpProxy;
  let server: TestServer;
  let api: Client;

  before(async () => {
    db = await postgresBackend.create();
    const target = new URL(POSTGRES_ADMIN_URL);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    server = await startTestServer({ databaseUrl: through(db.url, proxy), config: { databasePoolSize: 3 } });
    api = server.client(await server.mintKey(['write']));
  });
  after(async () => {
    await server?.stop();
    await proxy?.close();
    await db?.drop();
  });

  it('answers 503 service_unavailable with Retry-After while it is away, and recovers by itself', async () => {
    const created = await api.post('/v1/users', { body: uniqueUser() });
    assert.equal(created.status, 201, created.text);
    const client = await createClient(server, ['read']);
    const grant = { grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret };

    proxy.cut();
    assertUnavailable(await api.get(`/v1/users/${created.body.id}`), 'read');
    assertUnavailable(await api.post('/v1/users', { body: uniqueUser() }), 'write');
    assertUnavailable(await api.get('/v1/users'), 'list');
    // The token endpoint answers in RFC 6749's format, and an outage is still not a 500.
    const token = await tokenRequest(server, grant);
    assert.equal(token.status, 503, token.text);
    assert.equal(token.body.error, 'temporarily_unavailable');
    assert.equal(typeof token.body.error_description, 'string');
    assert.match(token.headers.get('retry-after') ?? '', /^[1-9]\d*$/, 'token: Retry-After');
    assert.equal(token.headers.get('cache-control'), 'no-store');
    const ready = await api.get('/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.checks.database, 'unavailable');
    assert.equal((await api.get('/healthz')).status, 200, 'the process itself is alive');
    assert.ok(!server.logs.some((l) => Number(l.level) >= 50), 'no error logged: an outage is not a bug');

    proxy.restore();
    await eventually('reads work again', async () => (await api.get(`/v1/users/${created.body.id}`)).status === 200);
    const again = await api.post('/v1/users', { body: uniqueUser() });
    assert.equal(again.status, 201, again.text);
    assert.equal((await tokenRequest(server, grant)).status, 200, 'tokens are issued again');
    const readyAgain = await api.get('/readyz');
    assert.equal(readyAgain.status, 200);
    assert.deepEqual(readyAgain.body, { status: 'ok', checks: { database: 'ok' } });
  });

  it('survives a connection lost in the middle of a query: the query fails as unavailable, the process lives on', async () => {
    // Checked-out clients have no listener from the pool; a lost one used to crash the process.
    const db = server.server.runtime.database.db;
    const slow = sql`select pg_sleep(5)`.execute(db).then(
      () => null,
      (err: unknown) => err,
    );
    await eventually('the query is running', async () => {
      const rows = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep%' and pid <> pg_backend_pid()`.execute(db);
      return rows.rows[0].n > 0;
    });
    proxy.cut();
    const err = await slow;
    assert.ok(err && isUnavailableError(err), `lost query fails as unavailable: ${String(err)}`);
    proxy.restore();
    await eventually('reads work again', async () => (await api.get('/v1/users?limit=1')).status === 200);
  });

  /** Runs `fn` with a superuser connection and the name of the test's database. */
  async function asAdmin<T>(fn: (admin: pg.Client, name: string) => Promise<T>): Promise<T> {
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    try {
      return await fn(admin, new URL(db.url).pathname.slice(1));
    } finally {
      await admin.end();
    }
  }
  /** Ends the server's sessions on the test's database: its pool must open new ones. */
  const terminateSessions = (admin: pg.Client, name: string) => admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [name]);

  it('recovers from connections terminated by the server (pg_terminate_backend)', async () => {
    const killed = await asAdmin(terminateSessions);
    assert.ok(killed.rowCount! > 0, 'the server had connections to terminate');
    // A request may still meet a dying connection: it answers 503, never 500.
    for (let i = 0; i < 5; i++) {
      const res = await api.get('/v1/users?limit=1');
      assert.ok(res.status === 200 || res.status === 503, `status ${res.status}: ${res.text}`);
    }
    await eventually('reads work again', async () => (await api.get('/v1/users?limit=1')).status === 200);
    assert.equal((await api.post('/v1/users', { body: uniqueUser() })).status, 201);
  });

  it('a database that does not accept connections (ALLOW_CONNECTIONS false) answers 503, not 500', async () => {
    const allowConnections = (on: boolean) =>
      asAdmin(async (admin, name) => {
        await admin.query(`alter database "${name}" allow_connections ${on}`);
        if (!on) await terminateSessions(admin, name);
      });
    const logged = server.logs.length;
    try {
      await allowConnections(false);
      assertUnavailable(await api.get('/v1/users?limit=1'), 'list');
      assertUnavailable(await api.post('/v1/users', { body: uniqueUser() }), 'write');
      assert.ok(!server.logs.slice(logged).some((l) => Number(l.level) >= 50), 'no error logged: an outage is not a bug');
    } finally {
      await allowConnections(true);
    }
    await eventually('reads work again', async () => (await api.get('/v1/users?limit=1')).status === 200);
  });

  it('a server that turned read-only (a standby after a failover) answers writes 503, and reads go on', async () => {
    // New sessions start read-only, as on a hot standby; the old ones are ended so the pool reconnects.
    const readOnly = (on: boolean) =>
      asAdmin(async (admin, name) => {
        await admin.query(on ? `alter database "${name}" set default_transaction_read_only = on` : `alter database "${name}" reset default_transaction_read_only`);
        await terminateSessions(admin, name);
      });
    try {
      await readOnly(true);
      let refused: Awaited<ReturnType<Client['post']>> | undefined;
      await eventually('writes are refused as such', async () => {
        const res = await api.post('/v1/users', { body: uniqueUser() });
        assert.ok(res.status === 503, `status ${res.status}: ${res.text}`);
        if (/cannot write/.test(res.body.message)) refused = res;
        return refused !== undefined;
      });
      assertUnavailable(refused!, 'write to a read-only server');
      assert.equal((await api.get('/v1/users?limit=1')).status, 200, 'reads go on');
      assert.ok(server.logs.some((l) => Number(l.level) === 50 && (l.err as { code?: string } | undefined)?.code === '25006'), 'logged as an error with its SQLSTATE');
    } finally {
      await readOnly(false);
    }
    await eventually('writes work again', async () => (await api.post('/v1/users', { body: uniqueUser() })).status === 201);
  });
});

await describeWithServices('Redis unreachable', ['redis'], () => {
  const prefix = uniqueRedisPrefix();
  let proxy: TcpProxy;
  let server: TestServer;
  let redis: Redis;

  before(async () => {
    const target = new URL(REDIS_TEST_URL);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 6379));
    redis = new Redis(REDIS_TEST_URL);
    server = await startTestServer({ config: { redisUrl: through(REDIS_TEST_URL, proxy).replace(/\/$/, ''), redisPrefix: prefix } });
  });
  after(async () => {
    await server?.stop();
    await proxy?.close();
    redis?.disconnect();
    await dropRedisPrefix(prefix);
  });

  const keyIdOf = (secret: string) => `key_${secret.split('_')[1]}`;
  const counterOf = (secret: string) => redis.get(`${prefix}rl:60:credential:${keyIdOf(secret)}`);

  it('keeps serving with in-process limits, answers /readyz 503, warns once, and goes back to Redis', async () => {
    const steady = await server.mintKey(['read'], { rateLimitPerMinute: 50 });
    const first = await server.client(steady).get('/v1/users?limit=1');
    assert.equal(first.status, 200);
    assert.equal(await counterOf(steady), '1', 'the budget is counted in Redis, under REDIS_PREFIX');
    assert.deepEqual((await server.client().get('/readyz')).body, { status: 'ok', checks: { database: 'ok', redis: 'ok' } });

    proxy.cut();
    await eventually('readyz reports Redis unavailable', async () => (await server.client().get('/readyz')).body.checks.redis === 'unavailable');
    const ready = await server.client().get('/readyz');
    assert.equal(ready.status, 503, 'API.md: /readyz is 503 unless the database and Redis are reachable');
    assert.equal(ready.headers.get('retry-after'), '5');
    assert.deepEqual(ready.body, { status: 'unavailable', checks: { database: 'ok', redis: 'unavailable' } });

    // Limits still hold, per instance: three requests, then 429.
    const small = server.client(await server.mintKey(['read'], { rateLimitPerMinute: 3 }));
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await small.get('/v1/users?limit=1')).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    for (let i = 0; i < 5; i++) assert.equal((await server.client(steady).get('/v1/users?limit=1')).status, 200);
    assert.equal(await counterOf(steady), '1', 'nothing reached Redis meanwhile');

    const warnings = server.logs.filter((l) => l.level === 40 && /Redis unreachable/.test(String(l.msg)));
    assert.equal(warnings.length, 1, 'many failures, one warning a minute');

    proxy.restore();
    await eventually('readyz reports Redis ok', async () => (await server.client().get('/readyz')).body.checks.redis === 'ok');
    const back = await server.client(steady).get('/v1/users?limit=1');
    assert.equal(back.status, 200);
    assert.equal(await counterOf(steady), '2', 'counting in Redis again');
    assert.equal(back.headers.get('x-ratelimit-remaining'), '48');
    assert.ok(server.logs.some((l) => l.level === 30 && /Redis reachable again/.test(String(l.msg))));
  });

  it('a Redis that hangs (connected, answering nothing) costs one request its timeout, not every request', async () => {
    const key = await server.mintKey(['read']);
    const api = server.client(key);
    assert.equal((await api.get('/v1/users?limit=1')).status, 200);
    proxy.hold();
    try {
      const started = Date.now();
      for (let i = 0; i < 10; i++) assert.equal((await api.get('/v1/users?limit=1')).status, 200);
      const seconds = (Date.now() - started) / 1000;
      // Each command waits up to 1 s for Redis: ten requests that each waited would take 10 s.
      assert.ok(seconds < 5, `ten requests took ${seconds.toFixed(1)} s`);
    } finally {
      proxy.release();
    }
    const before = Number(await counterOf(key));
    await eventually('counting in Redis again', async () => {
      await api.get('/v1/users?limit=1');
      return Number(await counterOf(key)) > before;
    });
  });
});

await describeWithServices('Redis refusing the credentials of REDIS_URL', ['redis'], () => {
  it('warns without the password, which ioredis keeps in the failed command', async () => {
    const url = new URL(REDIS_TEST_URL);
    url.username = `roster-no-such-user-${Date.now()}`;
    url.password = 'Never-Logged-Pw-7731';
    const server = await startTestServer({ config: { redisUrl: url.toString().replace(/\/$/, ''), redisPrefix: uniqueRedisPrefix() } });
    try {
      await eventually('the warning', async () => server.logs.some((l) => l.level === 40 && /Redis unreachable/.test(String(l.msg))));
      const warning = server.logs.find((l) => /Redis unreachable/.test(String(l.msg)))!;
      assert.match(JSON.stringify(warning.err), /WRONGPASS|NOAUTH|invalid/i, 'the reason is kept');
      assert.ok(!server.logs.some((l) => JSON.stringify(l).includes('Never-Logged-Pw-7731')), 'no log line holds the password');
    } finally {
      await server.stop();
    }
  });
});

describe('SQLite file full', () => {
  let server: TestServer;
  let api: Client;

  before(async () => {
    server = await startTestServer();
    api = server.client(await server.mintKey(['write']));
  });
  after(() => server?.stop());

  it('answers writes 503 service_unavailable with Retry-After, goes on reading, and writes again once there is room', async () => {
    const created = await api.post('/v1/users', { body: uniqueUser() });
    assert.equal(created.status, 201, created.text);
    const db = server.server.runtime.database.db;
    // SQLite's own limit on the file's size fails writes as a full disk does (SQLITE_FULL).
    const pages = (await sql<{ page_count: number }>`pragma page_count`.execute(db)).rows[0].page_count;
    await sql.raw(`pragma max_page_count = ${pages}`).execute(db);
    try {
      // Pages freed by migrations are used first: write until the file is full, never a 500.
      let blocked;
      for (let i = 0; i < 100 && !blocked; i++) {
        const res = await api.post('/v1/users', { body: { ...uniqueUser(), metadata: { filler: 'x'.repeat(7_000) } } });
        if (res.status !== 201) blocked = res;
      }
      assert.ok(blocked, 'the file filled up');
      assertUnavailable(blocked, 'write to a full file');
      assert.match(blocked.body.message, /cannot write/);
      const read = await api.get(`/v1/users/${created.body.id}`);
      assert.equal(read.status, 200, 'reads go on');
      const logged = server.logs.filter((l) => Number(l.level) === 50 && /cannot write/.test(String(l.msg)));
      assert.equal(logged.length, 1, 'an operator must act: logged as an error, naming the cause');
      assert.equal((logged[0].err as { code?: string }).code, 'SQLITE_FULL');
    } finally {
      await sql`pragma max_page_count = 4294967294`.execute(db);
    }
    const again = await api.post('/v1/users', { body: uniqueUser() });
    assert.equal(again.status, 201, again.text);
  });
});
