import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { REDIS_TEST_URL, describeWithServices, dropRedisPrefix, postgresBackend, uniqueRedisPrefix } from '../helpers/backends.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { eventually } from '../helpers/tcp-proxy.js';
import { runRoster } from '../helpers/roster-process.js';

await describeWithServices('roster keys on PostgreSQL (and Redis)', ['postgres', 'redis'], () => {
  const prefix = uniqueRedisPrefix();
  let db: { url: string; drop(): Promise<void> };
  let server: TestServer;

  before(async () => {
    db = await postgresBackend.create();
    // The server migrates the database; the CLI then works beside it, on the same data.
    server = await startTestServer({ databaseUrl: db.url, config: { redisUrl: REDIS_TEST_URL, redisPrefix: prefix } });
  });
  after(async () => {
    await server?.stop();
    await db?.drop();
    await dropRedisPrefix(prefix);
  });

  it('creates a key the running server accepts, lists it, and revokes it', async () => {
    const created = await runRoster(['keys', 'create', '--name', 'from-cli', '--scopes', 'read,write', '--rate-limit', '70', '--json'], { DATABASE_URL: db.url });
    assert.equal(created.code, 0, created.stderr);
    const key = JSON.parse(created.stdout);
    assert.match(key.id, /^key_[a-z0-9]{12}$/);
    assert.match(key.secret, /^rk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(key.scopes, ['read', 'write']);
    assert.equal(key.rate_limit_per_minute, 70);

    const api = server.client(key.secret);
    const res = await api.get('/v1/users?limit=1');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('x-ratelimit-limit'), '70');

    const listed = await runRoster(['keys', 'list', '--json', '--database-url', db.url], {});
    assert.equal(listed.code, 0, listed.stderr);
    const found = JSON.parse(listed.stdout).data.find((k: { id: string }) => k.id === key.id);
    assert.equal(found.name, 'from-cli');
    assert.equal(found.secret, undefined, 'a secret is shown once, at creation');
    assert.ok(!listed.stdout.includes(key.secret));

    const announced: string[] = [];
    server.server.runtime.invalidations.subscribe('api_key', (id) => announced.push(id));
    const revoked = await runRoster(['keys', 'revoke', key.id], { DATABASE_URL: db.url, REDIS_URL: REDIS_TEST_URL, REDIS_PREFIX: prefix });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout, `Revoked ${key.id}.\n`);
    // With REDIS_URL the CLI announces the revocation to every running instance.
    await eventually('the server hears of the revocation', async () => announced.includes(key.id));
    await eventually('the server refuses the revoked key', async () => (await api.get('/v1/users?limit=1')).status === 401);

  });
});
