import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachBackend } from '../helpers/backends.js';
import { type Client, uniqueUser } from '../helpers/client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

await describeEachBackend('GET /v1/users/{user_id}', (backend) => {
  let server: TestServer;
  let writer: Client;
  let reader: Client;

  before(async () => {
    server = await startTestServer({ backend });
    writer = server.client(await server.mintKey(['write']));
    reader = server.client(await server.mintKey(['read']));
  });
  after(() => server.stop());

  async function createUser() {
    const res = await writer.post('/v1/users', { body: { ...uniqueUser(), first_name: 'Ada', metadata: { team: 'core' } } });
    assert.equal(res.status, 201, res.text);
    return res;
  }

  it('answers 200 with the user and a strong ETag, for a read key', async () => {
    const created = await createUser();
    const res = await reader.get(`/v1/users/${created.body.id}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, created.body);
    assert.match(res.headers.get('etag') ?? '', /^"[^"]+"$/);
    assert.equal(res.headers.get('etag'), created.headers.get('etag'));
    assert.equal(res.headers.get('cache-control'), 'no-store', 'personal data is not cached');
  });

  it('answers 304 to a matching If-None-Match, and 200 once the user changed', async () => {
    const created = await createUser();
    const etag = created.headers.get('etag')!;
    const same = await reader.get(`/v1/users/${created.body.id}`, { headers: { 'if-none-match': etag } });
    assert.equal(same.status, 304);
    assert.equal(same.text, '');
    // RFC 9110 §8.6: a 304's Content-Length, if any, is the 200's; §15.4.5: it sends the ETag.
    const full = await reader.get(`/v1/users/${created.body.id}`);
    assert.ok([null, full.headers.get('content-length')].includes(same.headers.get('content-length')), `content-length ${same.headers.get('content-length')}`);
    assert.equal(same.headers.get('etag'), etag);
    await writer.patch(`/v1/users/${created.body.id}`, { body: { first_name: 'Grace' } });
    const changed = await reader.get(`/v1/users/${created.body.id}`, { headers: { 'if-none-match': etag } });
    assert.equal(changed.status, 200);
    assert.equal(changed.body.first_name, 'Grace');
    assert.notEqual(changed.headers.get('etag'), etag);
  });

  it('changes the ETag on every change, and not otherwise', async () => {
    const created = await createUser();
    const path = `/v1/users/${created.body.id}`;
    const e1 = (await reader.get(path)).headers.get('etag');
    assert.equal((await reader.get(path)).headers.get('etag'), e1);
    await writer.patch(path, { body: { metadata: { team: 'ops' } } });
    const e2 = (await reader.get(path)).headers.get('etag');
    await writer.patch(path, { body: { metadata: { team: 'core' } } });
    const e3 = (await reader.get(path)).headers.get('etag');
    assert.equal(new Set([e1, e2, e3]).size, 3, 'going back to earlier values is still a new version');
  });

  it("answers the seed's 404 for an unknown id, whatever its form", async () => {
    const created = await createUser();
    for (const id of ['usr_000000000000', created.body.id.toUpperCase(), 'nonsense', `${created.body.id}x`]) {
      const res = await reader.get(`/v1/users/${encodeURIComponent(id)}`);
      assert.equal(res.status, 404, id);
      assert.deepEqual(res.body, { error: 'not_found', message: 'User not found' });
    }
  });

  it('rejects an id longer than any id could be, naming the parameter', async () => {
    const res = await reader.get(`/v1/users/usr_${'a'.repeat(70)}`);
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'validation_error');
    assert.ok(res.body.details.user_id);
  });

  it('never shows a field that is not part of the user', async () => {
    const created = await createUser();
    const res = await reader.get(`/v1/users/${created.body.id}`);
    for (const hidden of ['version', 'seq', 'deleted_at', 'email_key', 'username_key', 'password', 'password_hash']) assert.ok(!(hidden in res.body), hidden);
  });
});
