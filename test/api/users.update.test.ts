import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeEachBackend } from '../helpers/backends.js';
import { uniqueUser } from '../helpers/client.js';
import { useServer } from '../helpers/server.js';

await describeEachBackend('PATCH /v1/users/{user_id} (the seed)', (backend) => {
  const { api, server } = useServer(backend);

  async function createUser(extra: Record<string, unknown> = {}) {
    const res = await api.post('/v1/users', { body: { ...uniqueUser(), first_name: 'John', last_name: 'Doe', role: 'member', ...extra } });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  it("answers the seed's request body with the seed's 200 shape", async () => {
    const user = await createUser();
    const fresh = uniqueUser('new');
    const res = await api.patch(`/v1/users/${user.id}`, {
      body: { email: fresh.email, username: fresh.username, first_name: 'Jane', last_name: 'Smith', role: 'admin' },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body).sort(), ['created_at', 'email', 'email_verified', 'first_name', 'id', 'last_name', 'metadata', 'role', 'updated_at', 'username']);
    assert.equal(res.body.id, user.id);
    assert.equal(res.body.email, fresh.email);
    assert.equal(res.body.username, fresh.username);
    assert.equal(res.body.first_name, 'Jane');
    assert.equal(res.body.last_name, 'Smith');
    assert.equal(res.body.role, 'admin');
    assert.equal(res.body.created_at, user.created_at);
    assert.match(res.body.updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(res.body.id, /^usr_[a-z0-9]{12}$/);
  });

  it('changes only the fields given', async () => {
    const user = await createUser({ metadata: { plan: 'free' } });
    const res = await api.patch(`/v1/users/${user.id}`, { body: { first_name: 'Jane' } });
    assert.equal(res.status, 200);
    assert.deepEqual({ ...res.body, updated_at: undefined }, { ...user, first_name: 'Jane', updated_at: undefined });
    const read = await api.get(`/v1/users/${user.id}`);
    assert.deepEqual(read.body, res.body);
  });

  it('treats {} as no change: not even updated_at, and the ETag stays', async () => {
    const user = await createUser();
    await new Promise((r) => setTimeout(r, 1100));
    const res = await api.patch(`/v1/users/${user.id}`, { body: {} });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, user);
    const read = await api.get(`/v1/users/${user.id}`);
    assert.equal(read.headers.get('etag'), res.headers.get('etag'));
  });

  it('treats the metadata it holds, sent again, as no change: objects inside arrays included', async () => {
    const user = await createUser({ metadata: { tags: [{ plan: 'pro', id: 7 }], zeta: { b: 1, a: 2 } } });
    await new Promise((r) => setTimeout(r, 1100));
    const res = await api.patch(`/v1/users/${user.id}`, { body: { metadata: { tags: [{ plan: 'pro', id: 7 }] } } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, user, 'not even updated_at');
    const events = (await api.get(`/v1/users/${user.id}/events`)).body.data;
    assert.deepEqual(events.map((e: { type: string }) => e.type), ['user.created'], 'no user.updated for nothing');
    // Kept with its keys in another order (as jsonb kept it before migration 0012): the same data.
    await server.server.runtime.database.db.updateTable('users').set({ metadata: '{"tags":[{"id":7,"plan":"pro"}],"zeta":{"a":2,"b":1}}' }).where('id', '=', user.id).execute();
    const again = await api.patch(`/v1/users/${user.id}`, { body: { metadata: { tags: [{ plan: 'pro', id: 7 }] } } });
    assert.equal(again.headers.get('etag'), res.headers.get('etag'), 'still no change');
  });

  it('keeps the order of metadata keys as sent, and of the user fields in its events', async () => {
    const metadata = { zeta: 1, b: { y: [], x: {} }, aa: 3, a: 4 };
    const user = await createUser({ metadata });
    assert.deepEqual(Object.keys(user.metadata), ['zeta', 'b', 'aa', 'a']);
    const read = (await api.get(`/v1/users/${user.id}`)).body;
    assert.equal(JSON.stringify(read.metadata), JSON.stringify(metadata));
    const [created] = (await api.get(`/v1/users/${user.id}/events`)).body.data;
    assert.deepEqual(Object.keys(created.data.object), Object.keys(read), 'the user as the API shows it');
    assert.equal(JSON.stringify(created.data.object.metadata), JSON.stringify(metadata));
  });

  it("gives the seed's 400 body, naming every invalid field", async () => {
    const user = await createUser();
    const res = await api.patch(`/v1/users/${user.id}`, { body: { email: 'not-an-email', username: 'x', first_name: 7, role: 'pope' } });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'validation_error');
    assert.equal(res.body.message, 'Invalid request parameters');
    assert.deepEqual(res.body.details.email, ['Invalid email format']);
    assert.deepEqual(Object.keys(res.body.details).sort(), ['email', 'first_name', 'role', 'username']);
    for (const messages of Object.values(res.body.details)) assert.ok(Array.isArray(messages) && messages.length > 0);
    assert.deepEqual((await api.get(`/v1/users/${user.id}`)).body, user, 'nothing changed');
  });

  it('rejects read-only, unknown and password fields, each with its own message', async () => {
    const user = await createUser();
    const res = await api.patch(`/v1/users/${user.id}`, { body: { id: 'usr_000000000000', created_at: 'x', updated_at: 'x', nickname: 'j', password: 'hunter2hunter2' } });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body.details.id, ['Field is read-only']);
    assert.deepEqual(res.body.details.created_at, ['Field is read-only']);
    assert.deepEqual(res.body.details.updated_at, ['Field is read-only']);
    assert.deepEqual(res.body.details.nickname, ['Unknown field']);
    assert.match(res.body.details.password[0], /PUT \/v1\/users\/\{user_id\}\/password/);
  });

  it('allows null for names only', async () => {
    const user = await createUser();
    const ok = await api.patch(`/v1/users/${user.id}`, { body: { first_name: null, last_name: null } });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.first_name, null);
    assert.equal(ok.body.last_name, null);
    const bad = await api.patch(`/v1/users/${user.id}`, { body: { email: null, username: null, role: null } });
    assert.equal(bad.status, 400);
    assert.deepEqual(Object.keys(bad.body.details).sort(), ['email', 'role', 'username']);
  });

  it("answers the seed's 404 for an unknown user", async () => {
    const res = await api.patch('/v1/users/usr_000000000000', { body: { first_name: 'Jane' } });
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { error: 'not_found', message: 'User not found' });
  });

  it("answers the seed's 409 when the username is taken, in any letter case", async () => {
    const taken = await createUser();
    const user = await createUser();
    const res = await api.patch(`/v1/users/${user.id}`, { body: { username: taken.username.toUpperCase() } });
    assert.equal(res.status, 409);
    assert.deepEqual(res.body, { error: 'conflict', message: 'Username already taken' });
    const email = await api.patch(`/v1/users/${user.id}`, { body: { email: taken.email.toUpperCase() } });
    assert.equal(email.status, 409);
    assert.deepEqual(email.body, { error: 'conflict', message: 'Email already taken' });
  });

  it('merges metadata per RFC 7396, also as application/merge-patch+json', async () => {
    const user = await createUser({ metadata: { plan: 'free', prefs: { theme: 'dark', lang: 'en' }, drop: 1 } });
    const res = await api.patch(`/v1/users/${user.id}`, {
      rawBody: JSON.stringify({ metadata: { plan: 'pro', prefs: { lang: null, tz: 'UTC' }, drop: null } }),
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.metadata, { plan: 'pro', prefs: { theme: 'dark', tz: 'UTC' } });
  });

  it('bounds the merged metadata at 8 KiB, not the patch: a patch removing many keys may be larger than what it leaves', async () => {
    const keys = Array.from({ length: 600 }, (_, i) => `key_${String(i).padStart(3, '0')}`);
    const user = await createUser({ metadata: Object.fromEntries(keys.map((k) => [k, 1])) });
    const removal = { metadata: Object.fromEntries(keys.map((k) => [k, null])) };
    assert.ok(Buffer.byteLength(JSON.stringify(removal.metadata)) > 8192, 'the patch itself is over 8 KiB');
    const res = await api.patch(`/v1/users/${user.id}`, { body: removal });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.metadata, {});
    // A merged result over 8 KiB is still refused, whatever the size of each patch.
    const half = (tag: string) => ({ metadata: { [tag]: 'x'.repeat(5000) } });
    assert.equal((await api.patch(`/v1/users/${user.id}`, { body: half('a') })).status, 200);
    const over = await api.patch(`/v1/users/${user.id}`, { body: half('b') });
    assert.equal(over.status, 400);
    assert.deepEqual(over.body.details, { metadata: ['Must be at most 8192 bytes when serialized'] });
  });

  it('names metadata beside the other invalid fields when what the patch adds is over 8 KiB', async () => {
    const user = await createUser({ metadata: { plan: 'free' } });
    const big = { added: 'x'.repeat(8200), plan: null };
    const res = await api.patch(`/v1/users/${user.id}`, { body: { email: 'not-an-email', metadata: big } });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body.details, { email: ['Invalid email format'], metadata: ['Must be at most 8192 bytes when serialized'] });
    const alone = await api.patch(`/v1/users/${user.id}`, { body: { metadata: big } });
    assert.deepEqual(alone.body.details, { metadata: ['Must be at most 8192 bytes when serialized'] }, 'the same answer as the merged result gets');
    assert.deepEqual((await api.get(`/v1/users/${user.id}`)).body, user, 'nothing changed');
  });

  it('sets email_verified to false when the email changes', async () => {
    const user = await createUser();
    const res = await api.patch(`/v1/users/${user.id}`, { body: { email: uniqueUser().email } });
    assert.equal(res.body.email_verified, false);
  });

  it('answers 412 and changes nothing when If-Match is stale, and succeeds when it is current', async () => {
    const user = await createUser();
    const etag = (await api.get(`/v1/users/${user.id}`)).headers.get('etag')!;
    assert.match(etag, /^"[^"]+"$/, 'a strong ETag');
    const first = await api.patch(`/v1/users/${user.id}`, { body: { first_name: 'A' }, headers: { 'if-match': etag } });
    assert.equal(first.status, 200);
    assert.notEqual(first.headers.get('etag'), etag);
    const stale = await api.patch(`/v1/users/${user.id}`, { body: { first_name: 'B' }, headers: { 'if-match': etag } });
    assert.equal(stale.status, 412);
    assert.equal(stale.body.error, 'precondition_failed');
    assert.equal((await api.get(`/v1/users/${user.id}`)).body.first_name, 'A');
  });

  it('stores names NFC-normalized and rejects control characters', async () => {
    const user = await createUser();
    const res = await api.patch(`/v1/users/${user.id}`, { body: { first_name: 'Jose\u0301' } });
    assert.equal(res.body.first_name, 'Jos\u00e9');
    const long = await api.patch(`/v1/users/${user.id}`, { body: { last_name: 'e\u0301'.repeat(100) } });
    assert.equal(long.status, 200, 'a length is counted as stored: 100 characters once normalized');
    assert.equal(long.body.last_name, '\u00e9'.repeat(100));
    const bad = await api.patch(`/v1/users/${user.id}`, { body: { last_name: 'a\u0000b' } });
    assert.equal(bad.status, 400);
    assert.ok(bad.body.details.last_name);
  });
});
