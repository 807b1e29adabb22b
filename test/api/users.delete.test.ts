import assert from 'node:assert/strict';
import { it } from 'node:test';
import { nowIso } from '../../src/adapters/clock.js';
import { openDatabase } from '../../src/store/database.js';
import { describeEachBackend } from '../helpers/backends.js';
import { uniqueUser } from '../helpers/client.js';
import { useServer } from '../helpers/server.js';

await describeEachBackend('DELETE /v1/users/{user_id}', (backend) => {
  const { server, api } = useServer(backend);

  async function createUser(body: Record<string, unknown> = uniqueUser()) {
    const res = await api.post('/v1/users', { body: { first_name: 'Del', last_name: 'Eted', ...body } });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  it('answers 204 without a body; then GET, PATCH and DELETE answer the seed 404', async () => {
    const user = await createUser();
    const etag = (await api.get(`/v1/users/${user.id}`)).headers.get('etag')!;
    const res = await api.delete(`/v1/users/${user.id}`);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    const notFound = { error: 'not_found', message: 'User not found' };
    assert.deepEqual((await api.get(`/v1/users/${user.id}`)).body, notFound);
    assert.equal((await api.get(`/v1/users/${user.id}`)).status, 404);
    const patch = await api.patch(`/v1/users/${user.id}`, { body: { first_name: 'Back' } });
    assert.equal(patch.status, 404);
    assert.deepEqual(patch.body, notFound);
    const patchIfMatch = await api.patch(`/v1/users/${user.id}`, { body: {}, headers: { 'if-match': etag } });
    assert.equal(patchIfMatch.status, 404, 'gone beats a stale ETag');
    const again = await api.delete(`/v1/users/${user.id}`);
    assert.equal(again.status, 404);
    assert.deepEqual(again.body, notFound);
  });

  it('answers 412 and deletes nothing when If-Match is stale, and deletes when it is current', async () => {
    const user = await createUser();
    const stale = (await api.get(`/v1/users/${user.id}`)).headers.get('etag')!;
    const patched = await api.patch(`/v1/users/${user.id}`, { body: { first_name: 'Changed' } });
    const refused = await api.delete(`/v1/users/${user.id}`, { headers: { 'if-match': stale } });
    assert.equal(refused.status, 412);
    assert.equal(refused.body.error, 'precondition_failed');
    assert.equal((await api.get(`/v1/users/${user.id}`)).status, 200, 'still there');
    assert.equal((await api.delete(`/v1/users/${user.id}`, { headers: { 'if-match': patched.headers.get('etag')! } })).status, 204);
    assert.equal((await api.delete(`/v1/users/${user.id}`, { headers: { 'if-match': '*' } })).status, 404, 'gone beats any ETag');
  });

  it('frees the email and username at once, for a new user with a new id', async () => {
    const names = uniqueUser();
    const user = await createUser(names);
    assert.equal((await api.post('/v1/users', { body: names })).status, 409);
    assert.equal((await api.delete(`/v1/users/${user.id}`)).status, 204);
    const reborn = await createUser({ email: names.email.toUpperCase(), username: names.username });
    assert.notEqual(reborn.id, user.id);
    assert.equal((await api.get(`/v1/users/${user.id}`)).status, 404, 'the old id stays gone');
    assert.equal((await api.get(`/v1/users/${reborn.id}`)).body.email, names.email.toUpperCase());

    // Another existing user may also take them over.
    const other = await createUser();
    assert.equal((await api.delete(`/v1/users/${reborn.id}`)).status, 204);
    const moved = await api.patch(`/v1/users/${other.id}`, { body: { username: names.username, email: names.email } });
    assert.equal(moved.status, 200, moved.text);
  });

  it('drops the user from every list and filter', async () => {
    const user = await createUser();
    assert.equal((await api.get(`/v1/users?email=${encodeURIComponent(user.email)}`)).body.data.length, 1);
    await api.delete(`/v1/users/${user.id}`);
    assert.deepEqual((await api.get(`/v1/users?email=${encodeURIComponent(user.email)}`)).body.data, []);
    assert.deepEqual((await api.get(`/v1/users?q=${encodeURIComponent(user.username)}`)).body.data, []);
    let cursor: string | null = null;
    do {
      const page: any = (await api.get(`/v1/users?limit=100${cursor ? `&cursor=${cursor}` : ''}`)).body;
      assert.ok(!page.data.some((u: { id: string }) => u.id === user.id));
      cursor = page.next_cursor;
    } while (cursor);
  });

  it('never reuses the id: a tombstone keeps it, with the personal data erased', async () => {
    const user = await createUser({ ...uniqueUser(), metadata: { phone: '+1 555 0100' } });
    await api.delete(`/v1/users/${user.id}`);
    const other = openDatabase({ url: server.databaseUrl, poolSize: 1 });
    try {
      const rows = await other.db.selectFrom('users').selectAll().where('id', '=', user.id).execute();
      assert.equal(rows.length, 1, 'the id is still held');
      const row = rows[0];
      for (const column of ['email', 'email_key', 'username', 'username_key', 'first_name', 'last_name', 'first_name_key', 'last_name_key', 'role'] as const) {
        assert.equal(row[column], null, column);
      }
      assert.ok(!JSON.stringify(row).includes('555'), 'metadata erased');
    } finally {
      await other.close();
    }
    // The store refuses to hand the id out again.
    await assert.rejects(
      server.server.runtime.store.users.insert({ id: user.id, ...uniqueUser(), first_name: null, last_name: null, role: 'member', metadata: {}, created_at: nowIso() }),
    );
  });

  it('lets exactly one of several concurrent deletes succeed', async () => {
    const user = await createUser();
    const results = await Promise.all(Array.from({ length: 10 }, () => api.delete(`/v1/users/${user.id}`)));
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [204, ...Array(9).fill(404)]);
  });

  it('needs the write scope', async () => {
    const user = await createUser();
    const reader = server.client(await server.mintKey(['read']));
    const res = await reader.delete(`/v1/users/${user.id}`);
    assert.equal(res.status, 403);
    assert.equal((await api.get(`/v1/users/${user.id}`)).status, 200, 'still there');
  });
});
