import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeEachBackend } from '../helpers/backends.js';
import { uniqueUser } from '../helpers/client.js';
import { startTestServer, useServer } from '../helpers/server.js';

const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const USER_FIELDS = ['created_at', 'email', 'email_verified', 'first_name', 'id', 'last_name', 'metadata', 'role', 'updated_at', 'username'];

await describeEachBackend('POST /v1/users', (backend) => {
  const { api } = useServer(backend);

  it('answers 201 with the whole user, Location and ETag', async () => {
    const input = { ...uniqueUser(), first_name: 'Jane', last_name: 'Smith', role: 'admin', metadata: { plan: 'pro', seats: 3, tags: ['a'] } };
    const before = Math.floor(Date.now() / 1000) * 1000;
    const res = await api.post('/v1/users', { body: input });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), USER_FIELDS);
    assert.match(res.body.id, /^usr_[a-z0-9]{12}$/);
    assert.equal(res.headers.get('location'), `/v1/users/${res.body.id}`);
    assert.match(res.headers.get('etag') ?? '', /^"[^"]+"$/, 'a strong ETag');
    assert.deepEqual(
      { email: res.body.email, username: res.body.username, first_name: res.body.first_name, last_name: res.body.last_name, role: res.body.role, metadata: res.body.metadata },
      input,
    );
    assert.equal(res.body.email_verified, false);
    assert.match(res.body.created_at, TIMESTAMP);
    assert.equal(res.body.updated_at, res.body.created_at);
    const createdMs = Date.parse(res.body.created_at);
    assert.ok(createdMs >= before && createdMs <= Date.now(), 'created_at is now, in UTC');

    const read = await api.get(res.headers.get('location')!);
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, res.body);
    assert.equal(read.headers.get('etag'), res.headers.get('etag'));
  });

  it('defaults role to DEFAULT_ROLE, names to null and metadata to {}', async () => {
    const res = await api.post('/v1/users', { body: uniqueUser() });
    assert.equal(res.status, 201);
    assert.equal(res.body.role, 'member');
    assert.equal(res.body.first_name, null);
    assert.equal(res.body.last_name, null);
    assert.deepEqual(res.body.metadata, {});
  });

  it('accepts explicit null names', async () => {
    const res = await api.post('/v1/users', { body: { ...uniqueUser(), first_name: null, last_name: null } });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.first_name, null);
  });

  it('requires email and username, naming each', async () => {
    const res = await api.post('/v1/users', { body: {} });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'validation_error');
    assert.equal(res.body.message, 'Invalid request parameters');
    assert.deepEqual(res.body.details, { email: ['Required'], username: ['Required'] });
  });

  it('keeps emails within SMTP\'s limits: a local part of 64 octets, domain labels of 63', async () => {
    const tag = uniqueUser().username.slice(0, 20);
    const accepted = [`${tag}${'a'.repeat(64 - tag.length)}@example.com`, `${tag}@${'b'.repeat(63)}.com`];
    const refused = [`${tag}${'a'.repeat(65 - tag.length)}@example.com`, `${tag}@${'b'.repeat(64)}.com`, `${tag}@example.${'c'.repeat(64)}`];
    for (const email of accepted) assert.equal((await api.post('/v1/users', { body: { ...uniqueUser(), email } })).status, 201, email);
    for (const email of refused) {
      const res = await api.post('/v1/users', { body: { ...uniqueUser(), email } });
      assert.equal(res.status, 400, email);
      assert.deepEqual(res.body.details, { email: ['Invalid email format'] });
    }
  });

  it('names every invalid field with its messages, and creates nothing', async () => {
    const u = uniqueUser();
    const res = await api.post('/v1/users', {
      body: { email: 'not-an-email', username: u.username, first_name: 'x'.repeat(101), last_name: 5, role: 'pope', metadata: [1, 2] },
    });
    assert.equal(res.status, 400);
    assert.deepEqual(Object.keys(res.body.details).sort(), ['email', 'first_name', 'last_name', 'metadata', 'role']);
    assert.deepEqual(res.body.details.email, ['Invalid email format']);
    assert.deepEqual(res.body.details.first_name, ['Must be at most 100 characters']);
    assert.match(res.body.details.role[0], /admin, member, viewer/);
    for (const messages of Object.values(res.body.details) as string[][]) assert.ok(messages.length > 0 && messages.every((m) => typeof m === 'string' && m.length > 0));
    const list = await api.get(`/v1/users?username=${u.username}`);
    assert.deepEqual(list.body.data, [], 'nothing was created');
  });

  describe('usernames', () => {
    for (const username of ['ab', 'x'.repeat(33), '_leading', '.dot', '-dash', 'has space', 'ümlaut', 'semi;colon', 'a/b']) {
      it(`rejects ${JSON.stringify(username)}`, async () => {
        const res = await api.post('/v1/users', { body: { email: uniqueUser().email, username } });
        assert.equal(res.status, 400);
        assert.deepEqual(Object.keys(res.body.details), ['username']);
      });
    }

    it('accepts 3 and 32 characters of letters, digits, _ . -', async () => {
      const tag = Math.random().toString(36).slice(2, 8);
      for (const username of [`a${tag}`.slice(0, 3), `Z9_.-${tag}${'q'.repeat(32)}`.slice(0, 32)]) {
        const res = await api.post('/v1/users', { body: { email: uniqueUser().email, username } });
        assert.equal(res.status, 201, `${username}: ${res.text}`);
        assert.equal(res.body.username, username, 'kept as given, letter case included');
      }
    });
  });

  describe('emails', () => {
    for (const email of ['plain', '@example.com', 'a@', 'a b@example.com', `${'a'.repeat(250)}@example.com`]) {
      it(`rejects ${JSON.stringify(email.length > 40 ? `${email.slice(0, 20)}…` : email)}`, async () => {
        const res = await api.post('/v1/users', { body: { email, username: uniqueUser().username } });
        assert.equal(res.status, 400);
        assert.deepEqual(Object.keys(res.body.details), ['email']);
      });
    }
  });

  it('rejects read-only and unknown fields, and password is not silently dropped', async () => {
    const res = await api.post('/v1/users', {
      body: { ...uniqueUser(), id: 'usr_aaaaaaaaaaaa', created_at: '2020-01-01T00:00:00Z', email_verified: true, nickname: 'x' },
    });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body.details.id, ['Field is read-only']);
    assert.deepEqual(res.body.details.created_at, ['Field is read-only']);
    assert.match(res.body.details.email_verified[0], /read-only/);
    assert.deepEqual(res.body.details.nickname, ['Unknown field']);
  });

  it('rejects metadata over 8 KiB and accepts it at 8 KiB', async () => {
    const pad = (n: number) => ({ p: 'x'.repeat(n - JSON.stringify({ p: '' }).length) });
    const ok = await api.post('/v1/users', { body: { ...uniqueUser(), metadata: pad(8192) } });
    assert.equal(ok.status, 201, ok.text);
    const big = await api.post('/v1/users', { body: { ...uniqueUser(), metadata: pad(8193) } });
    assert.equal(big.status, 400);
    assert.deepEqual(Object.keys(big.body.details), ['metadata']);
  });

  it('keeps __proto__ in metadata as plain data', async () => {
    const res = await api.post('/v1/users', { rawBody: `{"email":"${uniqueUser().email}","username":"${uniqueUser().username}","metadata":{"__proto__":{"admin":true},"a":1}}`, headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(JSON.parse(res.text).metadata, JSON.parse('{"__proto__":{"admin":true},"a":1}'));
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });

  it('stores names NFC-normalized', async () => {
    const res = await api.post('/v1/users', { body: { ...uniqueUser(), first_name: 'Zoe\u0308', last_name: 'Ame\u0301lie' } });
    assert.equal(res.body.first_name, 'Zo\u00eb');
    assert.equal(res.body.last_name, 'Am\u00e9lie');
  });

  it('counts a name\'s length as stored, NFC-normalized: 100 decomposed letters are 100 characters', async () => {
    const decomposed = 'e\u0301'.repeat(100);
    const res = await api.post('/v1/users', { body: { ...uniqueUser(), first_name: decomposed } });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.first_name, '\u00e9'.repeat(100));
    const over = await api.post('/v1/users', { body: { ...uniqueUser(), first_name: 'e\u0301'.repeat(101) } });
    assert.equal(over.status, 400);
    assert.deepEqual(over.body.details, { first_name: ['Must be at most 100 characters'] });
  });

  it("answers the seed's 409 for a taken username or email, in any letter case", async () => {
    const taken = uniqueUser();
    assert.equal((await api.post('/v1/users', { body: taken })).status, 201);
    const byName = await api.post('/v1/users', { body: { email: uniqueUser().email, username: taken.username.toUpperCase() } });
    assert.equal(byName.status, 409);
    assert.deepEqual(byName.body, { error: 'conflict', message: 'Username already taken' });
    const byEmail = await api.post('/v1/users', { body: { email: taken.email.toUpperCase(), username: uniqueUser().username } });
    assert.equal(byEmail.status, 409);
    assert.deepEqual(byEmail.body, { error: 'conflict', message: 'Email already taken' });
    // Both taken, by one user or by two: the username is named, whichever index the database checks first.
    const other = uniqueUser();
    assert.equal((await api.post('/v1/users', { body: other })).status, 201);
    for (const body of [{ email: taken.email, username: taken.username.toUpperCase() }, { email: other.email, username: taken.username }]) {
      assert.deepEqual((await api.post('/v1/users', { body })).body, { error: 'conflict', message: 'Username already taken' });
    }
    const mover = (await api.post('/v1/users', { body: uniqueUser() })).body;
    const both = await api.patch(`/v1/users/${mover.id}`, { body: { email: other.email, username: taken.username } });
    assert.deepEqual(both.body, { error: 'conflict', message: 'Username already taken' });
  });

  it('hands out distinct ids of the documented form', async () => {
    const ids = await Promise.all(Array.from({ length: 40 }, async () => (await api.post('/v1/users', { body: uniqueUser('ids') })).body.id as string));
    for (const id of ids) assert.match(id, /^usr_[a-z0-9]{12}$/);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('checks roles against ROLES and defaults to DEFAULT_ROLE', async () => {
    const custom = await startTestServer({ backend, config: { roles: ['owner', 'guest'], defaultRole: 'guest' } });
    try {
      const c = custom.client(await custom.mintKey(['write']));
      const plain = await c.post('/v1/users', { body: uniqueUser() });
      assert.equal(plain.body.role, 'guest');
      const owner = await c.post('/v1/users', { body: { ...uniqueUser(), role: 'owner' } });
      assert.equal(owner.status, 201);
      const admin = await c.post('/v1/users', { body: { ...uniqueUser(), role: 'admin' } });
      assert.equal(admin.status, 400);
      assert.deepEqual(admin.body.details.role, ['Must be one of: owner, guest']);
    } finally {
      await custom.stop();
    }
  });
});
