import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hash as argon2Hash, parseOptions } from '@node-rs/argon2';
import { describeEachBackend } from '../helpers/backends.js';
import { type ApiResponse, type Client, uniqueUser } from '../helpers/client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

await describeEachBackend('passwords: PUT /v1/users/{id}/password and POST …/password/verify', (backend) => {
  let server: TestServer;
  let api: Client;
  let otherKey: Client;
  /** Every response body the server sent, for the leak scan at the end. */
  const responses: string[] = [];
  /** Every password and hash the tests used. */
  const secrets: string[] = [];

  const record = (client: Client): Client => {
    const wrap =
      (fn: Client['get']) =>
      async (...args: Parameters<Client['get']>): Promise<ApiResponse> => {
        const res = await fn(...args);
        responses.push(res.text, JSON.stringify([...res.headers]));
        return res;
      };
    return { get: wrap(client.get), post: wrap(client.post), patch: wrap(client.patch), put: wrap(client.put), delete: wrap(client.delete) };
  };

  before(async () => {
    server = await startTestServer({ backend });
    api = record(server.client(await server.mintKey(['write'])));
    otherKey = record(server.client(await server.mintKey(['write'])));
  });
  after(() => server.stop());

  const pw = (label: string) => {
    const value = `pw-${label}-${Math.random().toString(36).slice(2)}`;
    secrets.push(value);
    return value;
  };

  async function createUser(extra: Record<string, unknown> = {}) {
    const res = await api.post('/v1/users', { body: { ...uniqueUser('pw'), ...extra } });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }
  const setPassword = (id: string, password: string) => api.put(`/v1/users/${id}/password`, { body: { password } });
  const verify = (id: string, password: string, client = api) => client.post(`/v1/users/${id}/password/verify`, { body: { password } });
  const storedHash = async (id: string) => (await server.server.runtime.store.passwords.findHash(id)) as string;

  it('sets a password (204) that then verifies, and only that one', async () => {
    const user = await createUser();
    const password = pw('set');
    const res = await setPassword(user.id, password);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.deepEqual((await verify(user.id, password)).body, { valid: true });
    assert.deepEqual((await verify(user.id, `${password}x`)).body, { valid: false });
    assert.deepEqual((await verify(user.id, password.toUpperCase())).body, { valid: false }, 'case matters in passwords');
    const hash = await storedHash(user.id);
    secrets.push(hash);
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('verifies a long password sent in another Unicode form, counted as it is hashed (NFKC)', async () => {
    const user = await createUser();
    // 200 characters as set; sent decomposed (e + U+0301), 400 code points, the same password.
    const password = `${'\u00e9'.repeat(199)}${Math.random().toString(36).slice(2, 3)}`;
    secrets.push(password);
    assert.equal((await setPassword(user.id, password)).status, 204);
    const res = await verify(user.id, password.normalize('NFD'));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { valid: true });
  });

  it('changes updated_at and the ETag, and records user.password_changed without the password', async () => {
    const user = await createUser();
    const etag = (await api.get(`/v1/users/${user.id}`)).headers.get('etag');
    // Wait (polling) until the clock is past the creation second, so a new updated_at shows.
    while (new Date().toISOString().slice(0, 19) + 'Z' <= user.created_at) await new Promise((r) => setTimeout(r, 50));
    const password = pw('event');
    assert.equal((await setPassword(user.id, password)).status, 204);
    const after = await api.get(`/v1/users/${user.id}`);
    assert.ok(after.body.updated_at > user.updated_at, `${after.body.updated_at} > ${user.updated_at}`);
    assert.notEqual(after.headers.get('etag'), etag);
    assert.deepEqual({ ...after.body, updated_at: user.updated_at }, user, 'nothing else changed');
    const events = await server.server.runtime.store.events.listForUser(user.id);
    const changed = events.filter((e) => e.type === 'user.password_changed');
    assert.equal(changed.length, 1);
    assert.equal((changed[0].data.object as { id: string }).id, user.id);
    assert.ok(!JSON.stringify(changed[0]).includes(password));
    assert.ok(!JSON.stringify(changed[0]).includes('argon2'));
  });

  it('accepts a password on POST /v1/users, never echoing it', async () => {
    const password = pw('create');
    const user = await createUser({ password });
    assert.equal(user.password, undefined);
    assert.ok(!JSON.stringify(user).includes(password));
    assert.deepEqual((await verify(user.id, password)).body, { valid: true });
  });

  it('enforces the policy on PUT: 8 to 256 characters (code points), not the email or username in any case', async () => {
    const user = await createUser();
    const short = await setPassword(user.id, '1234567');
    assert.equal(short.status, 400);
    assert.deepEqual(short.body, { error: 'validation_error', message: 'Invalid request parameters', details: { password: ['Must be at least 8 characters'] } });
    const long = await setPassword(user.id, 'a'.repeat(257));
    assert.deepEqual(long.body.details, { password: ['Must be at most 256 characters'] });
    assert.equal((await setPassword(user.id, 'a'.repeat(256))).status, 204);
    // Characters, not UTF-16 units: eight emoji are eight characters, seven are too few.
    assert.equal((await setPassword(user.id, '🔑'.repeat(8))).status, 204);
    assert.deepEqual((await verify(user.id, '🔑'.repeat(8))).body, { valid: true });
    assert.equal((await setPassword(user.id, '🔑'.repeat(7))).status, 400);
    // Counted as hashed, after NFKC: four e + U+0301 pairs are the four characters 'éééé'.
    const composed = await setPassword(user.id, 'e\u0301'.repeat(4));
    assert.deepEqual(composed.body?.details, { password: ['Must be at least 8 characters'] });
    const onCreate = await api.post('/v1/users', { body: { ...uniqueUser('pwnfkc'), password: 'e\u0301'.repeat(4) } });
    assert.deepEqual(onCreate.body.details, { password: ['Must be at least 8 characters'] });
    // No composition rules: all digits or all spaces of the right length are fine.
    assert.equal((await setPassword(user.id, '        ')).status, 204);
    const email = await setPassword(user.id, user.email.toUpperCase());
    assert.equal(email.status, 400);
    assert.deepEqual(email.body.details, { password: ['Must not be the email address'] });
    const username = await setPassword(user.id, user.username.toUpperCase());
    assert.equal(username.status, 400);
    assert.deepEqual(username.body.details, { password: ['Must not be the username'] });
    const typed = await api.put(`/v1/users/${user.id}/password`, { body: { password: 12345678, extra: 1 } });
    assert.equal(typed.status, 400);
    assert.deepEqual(typed.body.details, { password: ['Must be a string'], extra: ['Unknown field'] });
    assert.deepEqual((await api.put(`/v1/users/${user.id}/password`, { body: {} })).body.details, { password: ['Required'] });
    assert.deepEqual((await verify(user.id, '        ')).body, { valid: true }, 'refusals changed nothing');
  });

  it('enforces the policy on POST /v1/users, creating nothing when it fails', async () => {
    const fresh = uniqueUser('pwc');
    const short = await api.post('/v1/users', { body: { ...fresh, password: 'short' } });
    assert.equal(short.status, 400);
    assert.deepEqual(short.body.details, { password: ['Must be at least 8 characters'] });
    const same = await api.post('/v1/users', { body: { ...fresh, password: fresh.email.toUpperCase() } });
    assert.equal(same.status, 400);
    assert.deepEqual(same.body.details, { password: ['Must not be the email address'] });
    const sameName = await api.post('/v1/users', { body: { ...fresh, password: fresh.username } });
    assert.deepEqual(sameName.body.details, { password: ['Must not be the username'] });
    const list = await api.get(`/v1/users?email=${encodeURIComponent(fresh.email)}`);
    assert.deepEqual(list.body.data, [], 'no user was created');
    const both = await api.post('/v1/users', { body: { ...fresh, email: 'nope', password: 'x' } });
    assert.deepEqual(Object.keys(both.body.details).sort(), ['email', 'password'], 'every invalid field at once');
    // The rule against the email and username is named with the others too, not in a second 400.
    const withRole = await api.post('/v1/users', { body: { ...fresh, password: fresh.email.toUpperCase(), role: 'nope' } });
    assert.deepEqual(withRole.body.details, { role: ['Must be one of: admin, member, viewer'], password: ['Must not be the email address'] });
    const withEmail = await api.post('/v1/users', { body: { ...fresh, email: 'bad', password: fresh.username } });
    assert.deepEqual(withEmail.body.details, { email: ['Invalid email format'], password: ['Must not be the username'] });
  });

  it('keeps refusing password on PATCH, pointing to the password endpoint', async () => {
    const user = await createUser();
    const res = await api.patch(`/v1/users/${user.id}`, { body: { password: pw('patch') } });
    assert.equal(res.status, 400);
    assert.match(res.body.details.password[0], /PUT \/v1\/users\/\{user_id\}\/password/);
  });

  it('answers valid:false for a user without a password, 404 for an unknown user', async () => {
    const user = await createUser();
    assert.deepEqual((await verify(user.id, 'anything-at-all')).body, { valid: false });
    const unknown = await verify('usr_000000000000', 'anything-at-all');
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { error: 'not_found', message: 'User not found' });
    assert.equal((await setPassword('usr_000000000000', 'long-enough-1')).status, 404);
  });

  it('upgrades a hash made with older parameters on the next successful verify, not on a failed one', async () => {
    const user = await createUser();
    const password = pw('upgrade');
    const weak = await argon2Hash(password, { memoryCost: 4096, timeCost: 1, parallelism: 1, algorithm: 2 as never });
    secrets.push(weak);
    assert.ok(await server.server.runtime.store.passwords.setHash(user.id, weak));
    assert.deepEqual((await verify(user.id, 'not-the-password')).body, { valid: false });
    assert.equal(await storedHash(user.id), weak, 'a failed verify changes nothing');
    const updatedAt = (await api.get(`/v1/users/${user.id}`)).body.updated_at;
    assert.deepEqual((await verify(user.id, password)).body, { valid: true });
    const upgraded = await storedHash(user.id);
    secrets.push(upgraded);
    assert.notEqual(upgraded, weak);
    const params = parseOptions(upgraded);
    assert.equal(params.algorithm, 2);
    assert.equal(params.memoryCost, 19456);
    assert.equal(params.timeCost, 2);
    assert.deepEqual((await verify(user.id, password)).body, { valid: true }, 'the new hash holds the same password');
    assert.equal((await api.get(`/v1/users/${user.id}`)).body.updated_at, updatedAt, 'a rehash is not a change of the user');
  });

  it("erases a deleted user's hash, and its verification answers 404", async () => {
    const password = pw('deleted');
    const user = await createUser({ password });
    assert.equal((await api.delete(`/v1/users/${user.id}`)).status, 204);
    const row = await server.server.runtime.database.db.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
    assert.equal(row.password_hash, null);
    assert.equal((await verify(user.id, password)).status, 404);
  });

  it('never puts a password or hash in a response, a log line or an event', async () => {
    assert.ok(secrets.length >= 6, `only ${secrets.length} secrets to look for`);
    const logs = server.logs.map((l) => JSON.stringify(l));
    const rows = await server.server.runtime.database.db.selectFrom('events').selectAll().execute();
    const events = rows.map((r) => JSON.stringify(r));
    assert.ok(logs.length > 10 && events.length > 5 && responses.length > 10, "something to scan");
    for (const secret of secrets) {
      for (const [where, texts] of [['response', responses], ['log', logs], ['event', events]] as const) {
        assert.ok(!texts.some((t) => t.includes(secret)), `a ${where} contains a secret`);
      }
    }
    for (const texts of [responses, logs, events]) assert.ok(!texts.some((t) => t.includes('$argon2')), 'no hash anywhere');
  });
});

// The limits live in the limiter, not the store: one backend suffices.
describe('password verification limits', () => {
  let server: TestServer;
  let api: Client;
  let otherKey: Client;
  before(async () => {
    server = await startTestServer();
    api = server.client(await server.mintKey(['write']));
    otherKey = server.client(await server.mintKey(['write']));
  });
  after(() => server.stop());

  const pw = (label: string) => `pw-${label}-${Math.random().toString(36).slice(2)}`;
  async function createUser() {
    const res = await api.post('/v1/users', { body: uniqueUser('pwl') });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }
  const setPassword = (id: string, password: string) => api.put(`/v1/users/${id}/password`, { body: { password } });
  const verify = (id: string, password: string, client = api) => client.post(`/v1/users/${id}/password/verify`, { body: { password } });

  it('locks verification for a user after 10 failures, whatever key is used, and only for that user', async () => {
    const user = await createUser();
    const other = await createUser();
    const password = pw('lock');
    const otherPassword = pw('other');
    await setPassword(user.id, password);
    await setPassword(other.id, otherPassword);
    for (let i = 0; i < 10; i++) assert.deepEqual((await verify(user.id, `wrong-${i}-guess`, i % 2 ? api : otherKey)).body, { valid: false });
    for (const client of [api, otherKey]) {
      const locked = await verify(user.id, password, client);
      assert.equal(locked.status, 429, 'even the right password, from any key');
      assert.equal(locked.body.error, 'rate_limit_exceeded');
      const retryAfter = Number(locked.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 900, `Retry-After ${retryAfter}`);
    }
    assert.deepEqual((await verify(other.id, otherPassword)).body, { valid: true }, 'another user is not locked');
    // A new password starts a clean slate.
    const fresh = pw('fresh');
    assert.equal((await setPassword(user.id, fresh)).status, 204);
    assert.deepEqual((await verify(user.id, fresh)).body, { valid: true });
  });

  it('counts parallel guesses exactly: of 16 at once, at most 10 are checked', async () => {
    const user = await createUser();
    await setPassword(user.id, pw('parallel'));
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => verify(user.id, `parallel-guess-${i}`)));
    const statuses = results.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 200).length, 10, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 6);
  });

  it('counts only failures: correct passwords checked at once all pass, also after 9 failures', async () => {
    const user = await createUser();
    const password = pw('together');
    await setPassword(user.id, password);
    const together = await Promise.all(Array.from({ length: 20 }, () => verify(user.id, password)));
    assert.deepEqual(together.map((r) => r.status), Array(20).fill(200));
    for (let i = 0; i < 9; i++) assert.deepEqual((await verify(user.id, `nine-${i}-guess`)).body, { valid: false });
    const after = await Promise.all(Array.from({ length: 5 }, () => verify(user.id, password)));
    assert.deepEqual(after.map((r) => r.body), Array(5).fill({ valid: true }));
  });

  it('forgets failures after a success', async () => {
    const user = await createUser();
    const password = pw('reset');
    await setPassword(user.id, password);
    for (let i = 0; i < 5; i++) await verify(user.id, `wrong-${i}-guess`);
    assert.deepEqual((await verify(user.id, password)).body, { valid: true });
    // 11 failures in the window in all: without the reset the last would be refused.
    for (let i = 0; i < 6; i++) assert.deepEqual((await verify(user.id, `again-${i}-guess`)).body, { valid: false });
  });

});
