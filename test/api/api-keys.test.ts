import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../../src/store/database.js';
import { describeEachBackend } from '../helpers/backends.js';
import { type Client, uniqueUser } from '../helpers/client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = /^rk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

await describeEachBackend('API keys and scopes', (backend) => {
  let server: TestServer;
  let admin: Client;

  before(async () => {
    server = await startTestServer({ backend });
    admin = server.client(await server.mintKey(['admin']));
  });
  after(() => server.stop());

  /** Runs SQL on the server's own database through a second connection. */
  async function withDatabase<T>(fn: (db: ReturnType<typeof openDatabase>['db']) => Promise<T>): Promise<T> {
    const other = openDatabase({ url: server.databaseUrl, poolSize: 1 });
    try {
      return await fn(other.db);
    } finally {
      await other.close();
    }
  }

  async function createKey(body: Record<string, unknown>) {
    const res = await admin.post('/v1/api-keys', { body });
    assert.equal(res.status, 201, res.text);
    server.secrets.push(res.body.secret);
    return res.body;
  }

  describe('scopes: admin ⊇ write ⊇ read', () => {
    async function statuses(scopes: ('read' | 'write' | 'admin')[]) {
      const c = server.client(await server.mintKey(scopes));
      const created = await server.client(await server.mintKey(['write'])).post('/v1/users', { body: uniqueUser() });
      const id = created.body.id;
      return {
        list: (await c.get('/v1/users')).status,
        get: (await c.get(`/v1/users/${id}`)).status,
        create: (await c.post('/v1/users', { body: uniqueUser() })).status,
        update: (await c.patch(`/v1/users/${id}`, { body: { first_name: 'S' } })).status,
        delete: (await c.delete(`/v1/users/${id}`)).status,
        keys: (await c.get('/v1/api-keys')).status,
        metrics: (await c.get('/metrics')).status,
      };
    }

    it('read can read and nothing else', async () => {
      assert.deepEqual(await statuses(['read']), { list: 200, get: 200, create: 403, update: 403, delete: 403, keys: 403, metrics: 403 });
    });
    it('write implies read', async () => {
      assert.deepEqual(await statuses(['write']), { list: 200, get: 200, create: 201, update: 200, delete: 204, keys: 403, metrics: 403 });
    });
    it('admin implies write and read', async () => {
      assert.deepEqual(await statuses(['admin']), { list: 200, get: 200, create: 201, update: 200, delete: 204, keys: 200, metrics: 200 });
    });
    it('the 403 names the scope the route needs', async () => {
      const reader = server.client(await server.mintKey(['read']));
      assert.match((await reader.post('/v1/users', { body: uniqueUser() })).body.message, /'write'/);
      assert.match((await reader.get('/v1/api-keys')).body.message, /'admin'/);
      assert.match((await reader.delete('/v1/api-keys/key_aaaaaaaaaaaa')).body.message, /'admin'/);
    });
  });

  describe('/v1/api-keys', () => {
    it('creates a key whose secret is shown once, recognizable, with 256 random bits', async () => {
      const res = await admin.post('/v1/api-keys', { body: { name: 'backend', scopes: ['read', 'write'] } });
      assert.equal(res.status, 201, res.text);
      server.secrets.push(res.body.secret);
      assert.deepEqual(Object.keys(res.body).sort(), ['created_at', 'expires_at', 'id', 'last_used_at', 'name', 'rate_limit_per_minute', 'scopes', 'secret']);
      const match = SECRET.exec(res.body.secret);
      assert.ok(match, res.body.secret);
      assert.equal(res.body.id, `key_${match[1]}`);
      assert.equal(Buffer.from(match[2], 'base64url').length, 32);
      assert.equal(res.headers.get('location'), `/v1/api-keys/${res.body.id}`);
      assert.deepEqual(res.body.scopes, ['read', 'write']);
      assert.equal(res.body.expires_at, null);
      assert.equal(res.body.last_used_at, null);
      assert.equal((await server.client(res.body.secret).post('/v1/users', { body: uniqueUser() })).status, 201, 'it works');

      const again = await createKey({ name: 'backend', scopes: ['read'] });
      assert.notEqual(again.secret, res.body.secret);
      assert.notEqual(again.id, res.body.id);
    });

    it('never shows the secret again, and stores only its hash', async () => {
      const key = await createKey({ name: 'hidden', scopes: ['read'] });
      const list = await admin.get('/v1/api-keys');
      assert.equal(list.status, 200);
      const listed = list.body.data.find((k: { id: string }) => k.id === key.id);
      const { secret: _secret, ...shown } = key;
      assert.deepEqual(listed, shown);
      assert.ok(!list.text.includes(key.secret.slice(-43)), 'no secret in the list');
      for (const k of list.body.data) assert.ok(!('secret' in k) && !('secret_hash' in k));
      const row = await withDatabase((db) => db.selectFrom('api_keys').selectAll().where('id', '=', key.id).executeTakeFirstOrThrow());
      assert.ok(!JSON.stringify(row).includes(key.secret.slice(-43)), 'the database holds no secret');
      assert.match(row.secret_hash, /^[0-9a-f]{64}$/);
    });

    it('validates the body, naming every invalid field', async () => {
      const res = await admin.post('/v1/api-keys', { body: { name: '', scopes: ['read', 'root'], expires_in: 5, rate_limit_per_minute: 0, owner: 'x' } });
      assert.equal(res.status, 400);
      assert.deepEqual(Object.keys(res.body.details).sort(), ['expires_in', 'name', 'owner', 'rate_limit_per_minute', 'scopes']);
      const empty = await admin.post('/v1/api-keys', { body: { name: 'n', scopes: [] } });
      assert.deepEqual(Object.keys(empty.body.details), ['scopes']);
      const missing = await admin.post('/v1/api-keys', { body: {} });
      assert.deepEqual(missing.body.details, { name: ['Required'], scopes: ['Required'] });
    });

    it('revokes: the key fails on its very next use, leaves the list, and cannot be revoked twice', async () => {
      const key = await createKey({ name: 'doomed', scopes: ['write'] });
      const c = server.client(key.secret);
      assert.equal((await c.get('/v1/users')).status, 200, 'in use, so cached');
      const res = await admin.delete(`/v1/api-keys/${key.id}`);
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      const next = await c.get('/v1/users');
      assert.equal(next.status, 401);
      assert.equal(next.body.error, 'unauthorized');
      assert.match(next.headers.get('www-authenticate') ?? '', /^Bearer /);
      assert.ok(!(await admin.get('/v1/api-keys')).body.data.some((k: { id: string }) => k.id === key.id));
      const twice = await admin.delete(`/v1/api-keys/${key.id}`);
      assert.equal(twice.status, 404);
      assert.equal(twice.body.error, 'not_found');
      assert.equal((await admin.delete('/v1/api-keys/key_000000000000')).status, 404);
    });
  });

  it('lists keys, OAuth clients and webhook endpoints oldest first, also those made in the same second', async () => {
    const made: Record<string, string[]> = { '/v1/api-keys': [], '/v1/oauth-clients': [], '/v1/webhook-endpoints': [] };
    for (let i = 0; i < 6; i++) {
      made['/v1/api-keys'].push((await createKey({ name: `order ${i}`, scopes: ['read'] })).id);
      const client = await admin.post('/v1/oauth-clients', { body: { name: `order ${i}`, scopes: ['read'] } });
      made['/v1/oauth-clients'].push(client.body.client_id);
      const endpoint = await admin.post('/v1/webhook-endpoints', { body: { url: `https://93.184.216.34/hooks/${i}` } });
      made['/v1/webhook-endpoints'].push(endpoint.body.id);
    }
    for (const [path, ids] of Object.entries(made)) {
      const listed = (await admin.get(path)).body.data.map((x: { id?: string; client_id?: string }) => x.client_id ?? x.id).filter((id: string) => ids.includes(id));
      assert.deepEqual(listed, ids, path);
    }
  });

  describe('expiry', () => {
    it('sets expires_at from expires_in, whole seconds', async () => {
      const key = await createKey({ name: 'temp', scopes: ['read'], expires_in: 3600 });
      assert.equal(Date.parse(key.expires_at) - Date.parse(key.created_at), 3600_000);
      assert.match(key.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal((await server.client(key.secret).get('/v1/users')).status, 200);
    });

    it('refuses a key once its expiry has passed', async () => {
      const key = await createKey({ name: 'expiring', scopes: ['read'], expires_in: 60 });
      await withDatabase((db) => db.updateTable('api_keys').set({ expires_at: '2001-01-01T00:00:00Z' }).where('id', '=', key.id).execute());
      const res = await server.client(key.secret).get('/v1/users');
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /invalid_token/);
    });
  });

  it('keeps last_used_at without a write on every request', async () => {
    const key = await createKey({ name: 'tracked', scopes: ['read'] });
    const c = server.client(key.secret);
    const before = Math.floor(Date.now() / 1000) * 1000;
    assert.equal((await c.get('/v1/users')).status, 200);
    const lastUsed = await waitFor('last_used_at to be set', async () => {
      const listed = (await admin.get('/v1/api-keys')).body.data.find((k: { id: string }) => k.id === key.id);
      return listed.last_used_at ?? undefined;
    });
    assert.match(lastUsed, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Date.parse(lastUsed) >= before && Date.parse(lastUsed) <= Date.now());
    // Mark the row; if any of the next requests wrote last_used_at, the mark would be gone.
    const mark = '2001-01-01T00:00:00Z';
    await withDatabase((db) => db.updateTable('api_keys').set({ last_used_at: mark }).where('id', '=', key.id).execute());
    for (let i = 0; i < 10; i++) assert.equal((await c.get('/v1/users')).status, 200);
    const after = await withDatabase((db) => db.selectFrom('api_keys').select('last_used_at').where('id', '=', key.id).executeTakeFirstOrThrow());
    assert.equal(after.last_used_at, mark);
  });

  it("applies a key's own rate limit instead of the default", async () => {
    const key = await createKey({ name: 'slow', scopes: ['read'], rate_limit_per_minute: 3 });
    assert.equal(key.rate_limit_per_minute, 3);
    const c = server.client(key.secret);
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await c.get('/v1/users');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-ratelimit-limit'), '3');
      remaining.push(res.headers.get('x-ratelimit-remaining')!);
    }
    assert.deepEqual(remaining, ['2', '1', '0']);
    const limited = await c.get('/v1/users');
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error, 'rate_limit_exceeded');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    const other = await admin.get('/v1/users');
    assert.equal(other.status, 200, 'other keys keep their own budget');
    assert.equal(other.headers.get('x-ratelimit-limit'), String(server.config.rateLimitPerMinute));
  });
});
