import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { requestFingerprint } from '../../src/services/idempotency.js';
import { openDatabase } from '../../src/store/database.js';
import { describeEachBackend } from '../helpers/backends.js';
import { type Client, uniqueUser } from '../helpers/client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

await describeEachBackend('Idempotency-Key', (backend) => {
  let server: TestServer;
  let api: Client;
  let other: Client;
  let apiKeyId: string;

  before(async () => {
    server = await startTestServer({ backend });
    const secret = await server.mintKey(['write']);
    apiKeyId = `key_${secret.split('_')[1]}`;
    api = server.client(secret);
    other = server.client(await server.mintKey(['write']));
  });
  after(() => server.stop());

  const key = () => `idem-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const idem = (k: string) => ({ 'idempotency-key': k });

  async function usersWithEmail(email: string): Promise<number> {
    return (await api.get(`/v1/users?email=${encodeURIComponent(email)}`)).body.data.length;
  }

  it('replays the first response (status, body, Location, ETag) instead of creating twice', async () => {
    const k = key();
    const body = { ...uniqueUser('idem'), first_name: 'Ida' };
    const first = await api.post('/v1/users', { body, headers: idem(k) });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    // The same body with its keys in another order is the same request.
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const second = await api.post('/v1/users', { body: reordered, headers: { ...idem(k), 'x-request-id': 'req-replay-1' } });
    assert.equal(second.status, 201);
    assert.equal(second.text, first.text);
    assert.equal(second.headers.get('location'), first.headers.get('location'));
    assert.equal(second.headers.get('etag'), first.headers.get('etag'));
    assert.match(second.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    assert.equal(second.headers.get('x-request-id'), 'req-replay-1', 'the request id is the new request’s');
    assert.equal(await usersWithEmail(body.email), 1);
    const events = (await api.get(`/v1/users/${first.body.id}/events`)).body.data;
    assert.equal(events.length, 1, 'one user.created event');
  });

  it('keeps no fast hash of a password: the same password replays, another is a 422', async () => {
    const store = server.server.runtime.store;
    const k = key();
    const body = { ...uniqueUser('idempw'), password: 'correct horse battery' };
    const first = await api.post('/v1/users', { body, headers: idem(k) });
    assert.equal(first.status, 201, first.text);
    const kept = await store.idempotencyKeys.find(apiKeyId, k);
    assert.ok(kept);
    // Whoever reads the database could otherwise test password guesses at SHA-256's speed.
    assert.notEqual(kept.fingerprint, requestFingerprint('POST', '/v1/users', body));
    assert.notEqual(kept.fingerprint, requestFingerprint('POST', '/v1/users', { ...body, password: undefined }));

    const again = await api.post('/v1/users', { body, headers: idem(k) });
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.text, first.text);
    const other = await api.post('/v1/users', { body: { ...body, password: 'another long password' }, headers: idem(k) });
    assert.equal(other.status, 422, other.text);

    const verify = `/v1/users/${first.body.id}/password/verify`;
    const k2 = key();
    assert.deepEqual((await api.post(verify, { body: { password: 'wrong guess here' }, headers: idem(k2) })).body, { valid: false });
    assert.notEqual((await store.idempotencyKeys.find(apiKeyId, k2))?.fingerprint, requestFingerprint('POST', verify, { password: 'wrong guess here' }));
    assert.equal((await api.post(verify, { body: { password: 'correct horse battery' }, headers: idem(k2) })).status, 422, 'another password under the same key');
  });

  it('creates one user when the same create is retried 20 times at once', async () => {
    const k = key();
    const body = uniqueUser('burst');
    const results = await Promise.all(Array.from({ length: 20 }, () => api.post('/v1/users', { body, headers: idem(k) })));
    const statuses = results.map((r) => r.status);
    assert.ok(statuses.every((s) => s === 201 || s === 409), statuses.join(','));
    const created = results.filter((r) => r.status === 201);
    assert.ok(created.length >= 1);
    assert.equal(new Set(created.map((r) => r.body.id)).size, 1, 'every 201 names the same user');
    for (const r of results.filter((x) => x.status === 409)) {
      assert.equal(r.body.error, 'conflict');
      assert.match(r.body.message, /Idempotency-Key is still in progress/);
    }
    assert.equal(await usersWithEmail(body.email), 1);
    const later = await api.post('/v1/users', { body, headers: idem(k) });
    assert.equal(later.status, 201);
    assert.equal(later.body.id, created[0].body.id);
  });

  it('answers 422 idempotency_key_reused for the same key with another body, and acts on nothing', async () => {
    const k = key();
    const first = await api.post('/v1/users', { body: uniqueUser('reuse'), headers: idem(k) });
    assert.equal(first.status, 201);
    const otherBody = uniqueUser('reuse2');
    const res = await api.post('/v1/users', { body: otherBody, headers: idem(k) });
    assert.equal(res.status, 422);
    assert.equal(res.body.error, 'idempotency_key_reused');
    assert.equal(typeof res.body.message, 'string');
    assert.equal(await usersWithEmail(otherBody.email), 0);
    // Another path under the same key is another request too.
    const patch = await api.patch(`/v1/users/${first.body.id}`, { body: { first_name: 'Z' }, headers: idem(k) });
    assert.equal(patch.status, 422);
  });

  it('keeps keys per credential', async () => {
    const k = key();
    const a = await api.post('/v1/users', { body: uniqueUser('cred'), headers: idem(k) });
    const b = await other.post('/v1/users', { body: uniqueUser('cred'), headers: idem(k) });
    assert.equal(a.status, 201);
    assert.equal(b.status, 201, 'the other credential’s key is its own');
    assert.notEqual(a.body.id, b.body.id);
  });

  it('replays a PATCH without applying it again', async () => {
    const user = (await api.post('/v1/users', { body: uniqueUser('patch') })).body;
    const k = key();
    const first = await api.patch(`/v1/users/${user.id}`, { body: { first_name: 'First' }, headers: idem(k) });
    assert.equal(first.status, 200);
    assert.equal((await api.patch(`/v1/users/${user.id}`, { body: { first_name: 'Second' } })).status, 200);
    const replay = await api.patch(`/v1/users/${user.id}`, { body: { first_name: 'First' }, headers: idem(k) });
    assert.equal(replay.status, 200);
    assert.equal(replay.body.first_name, 'First');
    assert.equal(replay.headers.get('etag'), first.headers.get('etag'));
    assert.equal((await api.get(`/v1/users/${user.id}`)).body.first_name, 'Second', 'not applied again');
  });

  it('replays an error the first request answered (409), but not a validation error', async () => {
    const taken = (await api.post('/v1/users', { body: uniqueUser('taken') })).body;
    const k = key();
    const body = { email: uniqueUser().email, username: taken.username };
    const first = await api.post('/v1/users', { body, headers: idem(k) });
    assert.equal(first.status, 409);
    const again = await api.post('/v1/users', { body, headers: idem(k) });
    assert.equal(again.status, 409);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(again.body, first.body);

    const k2 = key();
    const invalid = await api.post('/v1/users', { body: { email: 'nope' }, headers: idem(k2) });
    assert.equal(invalid.status, 400);
    const fixed = await api.post('/v1/users', { body: uniqueUser('fixed'), headers: idem(k2) });
    assert.equal(fixed.status, 201, 'an invalid request does not consume the key');
  });

  it('answers 409 while the first request is in flight, and takes over a claim abandoned by a crash', async () => {
    const store = server.server.runtime.store;
    const body = uniqueUser('inflight');
    const k = key();
    const fingerprint = requestFingerprint('POST', '/v1/users', body);
    assert.ok(await store.idempotencyKeys.tryInsert({ principalId: apiKeyId, key: k, fingerprint, nowMs: Date.now(), lockMs: 60_000, ttlMs: 86_400_000 }));
    const busy = await api.post('/v1/users', { body, headers: idem(k) });
    assert.equal(busy.status, 409);
    assert.equal(busy.body.error, 'conflict');
    assert.equal(busy.headers.get('retry-after'), '1');
    assert.equal(await usersWithEmail(body.email), 0);

    const k2 = key();
    // A claim whose lock has lapsed: its process died mid-request.
    assert.ok(await store.idempotencyKeys.tryInsert({ principalId: apiKeyId, key: k2, fingerprint, nowMs: Date.now() - 120_000, lockMs: 60_000, ttlMs: 86_400_000 }));
    const taken = await api.post('/v1/users', { body, headers: idem(k2) });
    assert.equal(taken.status, 201, taken.text);
  });

  it('forgets keys after 24 hours: expired records are cleaned up', async () => {
    const k = key();
    assert.equal((await api.post('/v1/users', { body: uniqueUser('ttl'), headers: idem(k) })).status, 201);
    const idempotency = server.server.runtime.services.idempotency;
    assert.equal(await idempotency.cleanup(Date.now() + 23 * 3600_000), 0, 'kept within 24 hours');
    assert.ok((await idempotency.cleanup(Date.now() + 24 * 3600_000 + 1000)) >= 1);
    assert.equal(await server.server.runtime.store.idempotencyKeys.find(apiKeyId, k), undefined);
    const reused = await api.post('/v1/users', { body: uniqueUser('ttl'), headers: idem(k) });
    assert.equal(reused.status, 201, 'after expiry the key is new');
  });

  /** Every kept response body of this test's credential, as stored. */
  async function keptBodies(): Promise<string> {
    const other = openDatabase({ url: server.databaseUrl, poolSize: 1 });
    try {
      const rows = await other.db.selectFrom('idempotency_keys').select('response_body').where('principal_id', '=', apiKeyId).execute();
      return rows.map((r) => r.response_body ?? '').join('\n');
    } finally {
      await other.close();
    }
  }

  it('erases a deleted user from kept responses: replays of its creation and update show it erased, as its events do', async () => {
    const body = { ...uniqueUser('erased'), first_name: 'Erin', last_name: 'Rased', metadata: { plan: 'gold' } };
    const [kCreate, kPatch] = [key(), key()];
    const created = await api.post('/v1/users', { body, headers: idem(kCreate) });
    assert.equal(created.status, 201);
    const id = created.body.id;
    const patched = await api.patch(`/v1/users/${id}`, { body: { first_name: 'Erina' }, headers: idem(kPatch) });
    assert.equal(patched.status, 200);
    assert.match(await keptBodies(), new RegExp(body.username), 'kept in clear while the user lives');

    assert.equal((await api.delete(`/v1/users/${id}`)).status, 204);
    const stored = await keptBodies();
    for (const value of [body.email, body.username, 'Erin', 'Rased', 'gold']) assert.ok(!stored.includes(value), `${value} erased from kept responses`);

    const replay = await api.post('/v1/users', { body, headers: idem(kCreate) });
    assert.equal(replay.status, 201, 'the creation happened: a retry still does not create again');
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.equal(replay.headers.get('location'), created.headers.get('location'));
    assert.deepEqual(replay.body, {
      ...created.body,
      email: null,
      username: null,
      first_name: null,
      last_name: null,
      metadata: { plan: null },
    });
    const patchReplay = await api.patch(`/v1/users/${id}`, { body: { first_name: 'Erina' }, headers: idem(kPatch) });
    assert.equal(patchReplay.status, 200);
    assert.equal(patchReplay.body.id, id);
    assert.equal(patchReplay.body.first_name, null);
    assert.equal(patchReplay.body.role, patched.body.role, 'values that identify no one stay');
    const [event] = (await api.get(`/v1/users/${id}/events`)).body.data.filter((e: { type: string }) => e.type === 'user.created');
    assert.deepEqual(replay.body, event.data.object, 'the kept response is erased as the event is');
  });

  it('erases a response kept just after its user was deleted, at rest and in the replay', async () => {
    const idempotency = server.server.runtime.services.idempotency;
    const store = server.server.runtime.store;
    const body = { ...uniqueUser('late'), first_name: 'Lato' };
    const user = (await api.post('/v1/users', { body })).body;
    const response = { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(user) };
    const fingerprint = requestFingerprint('PATCH', `/v1/users/${user.id}`, {});
    // A PATCH that read the user, then the deletion, then the PATCH's response is kept.
    const [kept, keptBeforeCheck] = [key(), key()];
    for (const k of [kept, keptBeforeCheck]) {
      assert.ok(await store.idempotencyKeys.tryInsert({ principalId: apiKeyId, key: k, fingerprint, nowMs: Date.now(), lockMs: 60_000, ttlMs: 86_400_000 }));
    }
    assert.equal((await api.delete(`/v1/users/${user.id}`)).status, 204);
    await idempotency.finish(apiKeyId, kept, response, user.id);
    assert.equal((await store.idempotencyKeys.find(apiKeyId, kept))?.response?.body?.includes(body.username), false, 'erased once kept');
    // Kept without the check (as by a process that stopped right after keeping it): the replay erases it.
    await store.idempotencyKeys.complete(apiKeyId, keptBeforeCheck, response, user.id);
    const replay = await api.patch(`/v1/users/${user.id}`, { body: {}, headers: idem(keptBeforeCheck) });
    assert.equal(replay.status, 200);
    assert.equal(replay.body.id, user.id);
    assert.equal(replay.body.email, null);
    assert.equal(replay.body.first_name, null);
    assert.ok(!(await keptBodies()).includes(body.username), 'and at rest');
  });

  it('validates the key, and refuses it where the response holds a secret shown once', async () => {
    const long = await api.post('/v1/users', { body: uniqueUser('long'), headers: idem('x'.repeat(256)) });
    assert.equal(long.status, 400);
    assert.ok(long.body.details['Idempotency-Key']);
    const admin = server.client(await server.mintKey(['admin']));
    const res = await admin.post('/v1/api-keys', { body: { name: 'k', scopes: ['read'] }, headers: idem(key()) });
    assert.equal(res.status, 400);
    assert.ok(res.body.details['Idempotency-Key']);
    assert.equal((await admin.post('/v1/api-keys', { body: { name: 'k', scopes: ['read'] } })).status, 201);
    const client = await admin.post('/v1/oauth-clients', { body: { name: 'c', scopes: ['read'] }, headers: idem(key()) });
    assert.equal(client.status, 400, 'an OAuth client secret is stored only hashed, so its response is never kept');
    assert.ok(client.body.details['Idempotency-Key']);
    const endpoint = await admin.post('/v1/webhook-endpoints', { body: { url: 'https://example.com/hooks' }, headers: idem(key()) });
    assert.equal(endpoint.status, 400, 'a webhook signing secret is shown once, so its response is never kept');
    assert.ok(endpoint.body.details['Idempotency-Key']);
  });
});
