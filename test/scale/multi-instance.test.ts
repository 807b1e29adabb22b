import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import { openRuntime } from '../../src/compose.js';
import { configWith } from '../../src/config.js';
import { migrations } from '../../src/store/migrations/index.js';
import { REDIS_TEST_URL, describeWithServices, dropRedisPrefix, postgresBackend, uniqueRedisPrefix } from '../helpers/backends.js';
import { type Client, call, clientFor } from '../helpers/client.js';
import { type RosterServer, spawnRosterServer } from '../helpers/roster-process.js';
import { eventually } from '../helpers/tcp-proxy.js';

const ALL = Object.keys(migrations).sort();

/**
 * Spawns `roster serve` and waits until /readyz answers 200. The port is picked free before the
 * child binds it, so another process may take it first: then the child exits with EADDRINUSE and
 * is started again on another port.
 */
async function startReady(env: Record<string, string>, spawned: RosterServer[]): Promise<RosterServer> {
  for (let attempt = 1; ; attempt++) {
    const inst = await spawnRosterServer(env);
    spawned.push(inst);
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (inst.child.exitCode !== null || inst.child.signalCode !== null) break;
      if ((await call(inst.url, 'GET', '/readyz').catch(() => null))?.status === 200) return inst;
      if (Date.now() > deadline) throw new Error(`${inst.url} not ready: ${JSON.stringify(inst.logs.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const logs = JSON.stringify(inst.logs.slice(-5));
    if (!logs.includes('EADDRINUSE') || attempt === 3) throw new Error(`instance exited: ${logs}`);
  }
}

/**
 * Three `roster serve` processes on one PostgreSQL database and one Redis prefix, as behind a
 * load balancer: what one instance does, the others see.
 */
await describeWithServices('three instances on PostgreSQL and Redis', ['postgres', 'redis'], () => {
  const prefix = uniqueRedisPrefix();
  let db: { url: string; drop(): Promise<void> };
  let instances: RosterServer[] = [];
  const spawned: RosterServer[] = [];
  let admin: Client[];

  before(async () => {
    db = await postgresBackend.create();
    const env = { DATABASE_URL: db.url, REDIS_URL: REDIS_TEST_URL, REDIS_PREFIX: prefix, RATE_LIMIT_PER_MINUTE: '100000', DATABASE_POOL_SIZE: '4' };
    // Started at the same moment, on an empty database.
    instances = await Promise.all([1, 2, 3].map(() => startReady(env, spawned)));
    // An admin key, minted as `roster keys create` does, straight into the shared database.
    const runtime = await openRuntime(configWith({ databaseUrl: db.url }), { migrate: false });
    try {
      const key = await runtime.services.apiKeys.create({ name: 'admin', scopes: ['admin'] });
      admin = instances.map((inst) => clientFor(inst.url, key.secret));
    } finally {
      await runtime.close();
    }
  });
  after(async () => {
    await Promise.all(spawned.map((i) => i.stop()));
    await db?.drop();
    await dropRedisPrefix(prefix);
  });

  it('started together on an empty database, they migrate it once and all serve', async () => {
    const runtime = await openRuntime(configWith({ databaseUrl: db.url }), { migrate: false });
    try {
      const rows = await sql<{ name: string }>`select name from roster_migrations order by name`.execute(runtime.database.db);
      assert.deepEqual(rows.rows.map((r) => r.name), ALL);
    } finally {
      await runtime.close();
    }
    const migrators = instances.filter((i) => i.logs.some((l) => l.msg === 'applied migrations'));
    assert.equal(migrators.length, 1, 'exactly one instance applied the migrations');
    assert.deepEqual(migrators[0].logs.find((l) => l.msg === 'applied migrations')!.migrations, ALL);
    for (const c of admin) assert.equal((await c.get('/v1/users?limit=1')).status, 200);
    for (const inst of instances) {
      assert.deepEqual((await call(inst.url, 'GET', '/readyz')).body, { status: 'ok', checks: { database: 'ok', redis: 'ok' } });
    }
  });

  it('share one rate-limit budget, exact under concurrency', async () => {
    const created = await admin[0].post('/v1/api-keys', { body: { name: 'limited', scopes: ['read'], rate_limit_per_minute: 30 } });
    assert.equal(created.status, 201, created.text);
    const clients = instances.map((i) => clientFor(i.url, created.body.secret));
    // 45 requests, 15 per instance: separate budgets of 30 would let them all through.
    const responses = await Promise.all(Array.from({ length: 45 }, (_, n) => clients[n % 3].get('/v1/users?limit=1')));
    const ok = responses.filter((r) => r.status === 200);
    const limited = responses.filter((r) => r.status === 429);
    assert.equal(ok.length, 30);
    assert.equal(limited.length, 15);
    assert.deepEqual(ok.map((r) => Number(r.headers.get('x-ratelimit-remaining'))).sort((a, b) => a - b), Array.from({ length: 30 }, (_, i) => i));
    for (const r of limited) {
      assert.equal(r.body.error, 'rate_limit_exceeded');
      assert.match(r.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    }
    assert.ok(new Set(responses.map((r, n) => (r.status === 200 ? n % 3 : -1))).size >= 3, 'every instance served some');
  });

  it('thirty concurrent claims of one username across the instances: exactly one succeeds', async () => {
    const username = `claim${Date.now().toString(36)}`;
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, n) =>
        admin[n % 3].post('/v1/users', {
          // Case differs between claims: uniqueness is case-insensitive.
          body: { username: n % 2 ? username.toUpperCase() : username, email: `${username}.${n}@example.com` },
        }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 201).length, 1, `statuses: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 409).length, 29);
    for (const r of responses.filter((x) => x.status === 409)) assert.deepEqual(r.body, { error: 'conflict', message: 'Username already taken' });
    const listed = await admin[2].get(`/v1/users?username=${username}`);
    assert.equal(listed.body.data.length, 1);
  });

  it('a key revoked on one instance is refused by the others within 5 seconds', async () => {
    const created = await admin[0].post('/v1/api-keys', { body: { name: 'to-revoke', scopes: ['read'] } });
    assert.equal(created.status, 201);
    const others = [1, 2].map((i) => clientFor(instances[i].url, created.body.secret));
    // Each other instance now holds the key in its cache.
    for (const c of others) assert.equal((await c.get('/v1/users?limit=1')).status, 200);

    assert.equal((await admin[0].delete(`/v1/api-keys/${created.body.id}`)).status, 204);
    // The contract's bound (API.md §5); the announcement over Redis usually makes it immediate.
    await eventually('the other instances refuse the key', async () => {
      const statuses = await Promise.all(others.map(async (c) => (await c.get('/v1/users?limit=1')).status));
      return statuses.every((s) => s === 401);
    }, 5000, 50);
    assert.equal((await clientFor(instances[0].url, created.body.secret).get('/v1/users?limit=1')).status, 401);
  });

  // Last: it spends this address's failed-authentication budget for the minute.
  it('check at most AUTH_FAILURES_PER_MINUTE guesses from one address, however many arrive at once on whichever instance', async () => {
    const guesses = await Promise.all(
      Array.from({ length: 240 }, (_, n) => call(instances[n % 3].url, 'GET', '/v1/users?limit=1', { key: `rk_guess${String(n).padStart(4, '0')}_${'x'.repeat(43)}` })),
    );
    const statuses = guesses.map((r) => r.status);
    const checked = statuses.filter((s) => s === 401).length;
    // The default budget of 60, less the few failures of the tests above.
    assert.ok(checked <= 60 && checked >= 50, `${checked} guesses checked: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 240 - checked);
  });
});
