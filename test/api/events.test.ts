import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { POSTGRES_ADMIN_URL, describeEachBackend } from '../helpers/backends.js';
import { type Client, uniqueUser } from '../helpers/client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

await describeEachBackend('events', (backend) => {
  let server: TestServer;
  let writer: Client;
  let reader: Client;
  let writerKeyId: string;

  before(async () => {
    server = await startTestServer({ backend });
    const secret = await server.mintKey(['write']);
    writer = server.client(secret);
    writerKeyId = `key_${secret.split('_')[1]}`;
    reader = server.client(await server.mintKey(['read']));
  });
  after(() => server.stop());

  async function createUser(extra: Record<string, unknown> = {}) {
    const res = await writer.post('/v1/users', { body: { ...uniqueUser('ev'), first_name: 'Grace', last_name: 'Hopper', ...extra } });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  it('records who changed what, with the request id, in order, readable with the read scope', async () => {
    const user = await createUser({ metadata: { plan: 'free' } });
    const patched = await writer.patch(`/v1/users/${user.id}`, { body: { last_name: 'Brewster', metadata: { plan: 'pro' } }, headers: { 'x-request-id': 'req-audit-1' } });
    assert.equal(patched.status, 200);
    const res = await reader.get(`/v1/users/${user.id}/events`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.has_more, false);
    assert.equal(res.body.next_cursor, null);
    const [created, updated] = res.body.data;
    assert.deepEqual(Object.keys(created).sort(), ['actor', 'created_at', 'data', 'id', 'request_id', 'type', 'user_id']);
    assert.equal(created.type, 'user.created');
    assert.match(created.id, /^evt_[a-z0-9]{16}$/);
    assert.deepEqual(created.actor, { type: 'api_key', id: writerKeyId });
    assert.deepEqual(created.data.object, user);
    assert.equal(updated.type, 'user.updated');
    assert.equal(updated.request_id, 'req-audit-1');
    assert.deepEqual(updated.data.previous_attributes, { last_name: 'Hopper', metadata: { plan: 'free' } });
    assert.deepEqual(updated.data.object, patched.body);
    assert.match(updated.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual((await reader.get(`/v1/events/${updated.id}`)).body, updated);
  });

  it('names only what changed: a new address of an unverified user does not list email_verified', async () => {
    const user = await createUser();
    assert.equal(user.email_verified, false);
    const email = uniqueUser('moved').email;
    assert.equal((await writer.patch(`/v1/users/${user.id}`, { body: { email } })).status, 200);
    const [, updated] = (await reader.get(`/v1/users/${user.id}/events`)).body.data;
    assert.deepEqual(updated.data.previous_attributes, { email: user.email });
  });

  // Only PostgreSQL commits writers concurrently: SQLite's commits come in the order of their seqs.
  if (backend.name === 'postgres') it('never lets a follower of the feed miss an event that commits after a later one', async () => {
    const own = await startTestServer({ backend });
    const slow = new pg.Client({ connectionString: own.databaseUrl });
    await slow.connect();
    try {
      const api = own.client(await own.mintKey(['write']));
      // A follower: keeps the last cursor it was given, and asks again from it.
      let cursor: string | null = null;
      const seen: string[] = [];
      const follow = async () => {
        for (;;) {
          const page: any = await api.get(`/v1/events?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
          assert.equal(page.status, 200, page.text);
          seen.push(...page.body.data.map((e: { id: string }) => e.id));
          if (!page.body.has_more) return;
          cursor = page.body.next_cursor;
        }
      };
      // A writer takes its seq, then is slow to commit, while others commit later seqs.
      await slow.query('begin');
      await slow.query(
        `insert into events (id, type, user_id, actor_kind, actor_id, request_id, data, created_at)
         values ('evt_slowwriter00001', 'user.updated', 'usr_slow', 'api_key', 'key_slow', null, '{}', '2026-01-01T00:00:00Z')`,
      );
      const fast = [(await api.post('/v1/users', { body: uniqueUser('fast1') })).body.id, (await api.post('/v1/users', { body: uniqueUser('fast2') })).body.id];
      await follow();
      await slow.query('commit');
      await follow();
      const fastEvents = await Promise.all(fast.map(async (id) => (await api.get(`/v1/users/${id}/events`)).body.data[0].id));
      for (const id of ['evt_slowwriter00001', ...fastEvents]) assert.ok(seen.includes(id), `${id} seen; the follower saw ${seen.join(', ')}`);
      // A cursor of the seq alone, as made before events carried their transaction, still works.
      const { rows } = await slow.query(`select seq from events where id = 'evt_slowwriter00001'`);
      const legacy = Buffer.from(`e1:${rows[0].seq}`).toString('base64url');
      const afterSlow = (await api.get(`/v1/events?cursor=${legacy}`)).body.data.map((e: { id: string }) => e.id);
      assert.deepEqual(afterSlow, fastEvents, 'the events after it, in order');
      // One of a seq no event has: the place after it, as on SQLite, not the start of the feed.
      const past = Buffer.from('e1:999999999999999').toString('base64url');
      assert.deepEqual((await api.get(`/v1/events?cursor=${past}`)).body.data, [], 'past the last event: nothing');

      // A transaction left open in another database of the server holds nothing back here.
      const elsewhere = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await elsewhere.connect();
      try {
        await elsewhere.query('begin');
        await elsewhere.query('create temporary table roster_holds_an_xid (n int)');
        const later = (await api.post('/v1/users', { body: uniqueUser('later') })).body.id;
        const listed = (await api.get(`/v1/users/${later}/events`)).body.data;
        assert.equal(listed.length, 1, 'listed at once');
        await elsewhere.query('rollback');
      } finally {
        await elsewhere.end();
      }
    } finally {
      await slow.end();
      await own.stop();
    }
  });

  it('pages through every event with a cursor, neither skipping nor repeating', async () => {
    const users = [await createUser(), await createUser(), await createUser()];
    const ours = new Set(users.map((u) => u.id));
    const seen: any[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await reader.get(`/v1/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.body.data.length <= 2);
      seen.push(...res.body.data);
      cursor = res.body.next_cursor;
      assert.equal(res.body.has_more, cursor !== null);
    } while (cursor);
    assert.equal(new Set(seen.map((e) => e.id)).size, seen.length, 'no event twice');
    const mine = seen.filter((e) => ours.has(e.user_id));
    assert.deepEqual(
      mine.map((e) => e.user_id),
      users.map((u) => u.id),
    );
    const all = (await reader.get('/v1/events?limit=100')).body.data.map((e: any) => e.id);
    assert.deepEqual(
      seen.map((e) => e.id),
      all.slice(0, seen.length),
      'the same order as one big page',
    );
  });

  it('filters by type and time', async () => {
    const user = await createUser();
    await writer.patch(`/v1/users/${user.id}`, { body: { first_name: 'X' } });
    await writer.delete(`/v1/users/${user.id}`);
    const types = (q: string) => reader.get(`/v1/users/${user.id}/events?${q}`).then((r) => r.body.data.map((e: any) => e.type));
    assert.deepEqual(await types('type=user.updated'), ['user.updated']);
    assert.deepEqual(await types('type=user.created,user.deleted'), ['user.created', 'user.deleted']);
    const future = new Date(Date.now() + 3600_000).toISOString();
    assert.deepEqual(await types(`created_after=${future}`), []);
    assert.deepEqual(await types(`created_before=${future}`), ['user.created', 'user.updated', 'user.deleted']);
    assert.deepEqual(await types('created_after=2000-01-01T00:00:00Z&created_before=2000-01-02T00:00:00Z'), []);
    // Instants that fall past year 9999 in UTC still sort after every stored time.
    for (const late of ['9999-12-31T23:59:59.5Z', '9999-12-31T23:00:00-05:00']) {
      assert.deepEqual(await types(`created_before=${encodeURIComponent(late)}`), ['user.created', 'user.updated', 'user.deleted'], late);
      assert.deepEqual(await types(`created_after=${encodeURIComponent(late)}`), [], late);
    }
    const bad = await reader.get('/v1/events?type=user.exploded');
    assert.equal(bad.status, 400);
    assert.ok(bad.body.details.type);
    const cursor = await reader.get('/v1/events?cursor=nonsense');
    assert.equal(cursor.status, 400);
    assert.deepEqual(cursor.body.details, { cursor: ['Invalid cursor'] });
  });

  it('erases personal values from a deleted user’s events and keeps the record of what happened', async () => {
    const user = await createUser({ metadata: { plan: 'gold', nickname: 'amazing' } });
    const fresh = uniqueUser('evnew');
    await writer.patch(`/v1/users/${user.id}`, { body: { email: fresh.email, username: fresh.username, first_name: 'Amazing' } });
    const before = (await reader.get(`/v1/users/${user.id}/events`)).body.data;
    assert.equal((await writer.delete(`/v1/users/${user.id}`, { headers: { 'x-request-id': 'req-erase-1' } })).status, 204);

    const res = await reader.get(`/v1/users/${user.id}/events`);
    assert.equal(res.status, 200, 'the audit trail outlives the user');
    const events = res.body.data;
    assert.deepEqual(
      events.map((e: any) => e.type),
      ['user.created', 'user.updated', 'user.deleted'],
    );
    for (const secret of [user.email, user.username, fresh.email, fresh.username, 'Grace', 'Hopper', 'Amazing', 'gold', 'amazing']) {
      assert.ok(!res.text.includes(secret), `${secret} is erased`);
    }
    // What happened, when and by whom stays.
    for (let i = 0; i < 2; i++) {
      for (const field of ['id', 'type', 'created_at', 'user_id', 'actor', 'request_id']) assert.deepEqual(events[i][field], before[i][field]);
    }
    assert.equal(events[2].request_id, 'req-erase-1');
    assert.deepEqual(events[2].actor, { type: 'api_key', id: writerKeyId });
    const [created, updated] = events;
    assert.equal(created.data.object.id, user.id);
    assert.equal(created.data.object.role, user.role);
    assert.equal(created.data.object.created_at, user.created_at);
    assert.equal(created.data.object.email, null);
    assert.deepEqual(created.data.object.metadata, { plan: null, nickname: null });
    assert.deepEqual(Object.keys(updated.data.previous_attributes).sort(), Object.keys(before[1].data.previous_attributes).sort(), 'which fields changed stays');
    assert.ok(['email', 'first_name', 'username'].every((f) => f in updated.data.previous_attributes));
    for (const f of ['email', 'first_name', 'username']) assert.equal(updated.data.previous_attributes[f], null, f);
    // The global list shows the same erased events.
    const global = (await reader.get('/v1/events?type=user.created&limit=100')).body.data.find((e: any) => e.id === created.id);
    assert.deepEqual(global, created);
  });

  it('answers 404 for a user that never existed', async () => {
    const res = await reader.get('/v1/users/usr_000000000000/events');
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { error: 'not_found', message: 'User not found' });
    assert.equal((await reader.get('/v1/events/evt_0000000000000000')).status, 404);
  });

  it('cannot be edited or deleted through the API (405 with Allow: GET)', async () => {
    const user = await createUser();
    const [event] = (await reader.get(`/v1/users/${user.id}/events`)).body.data;
    for (const [method, path] of [
      ['PATCH', `/v1/events/${event.id}`],
      ['PUT', `/v1/events/${event.id}`],
      ['DELETE', `/v1/events/${event.id}`],
      ['POST', '/v1/events'],
      ['DELETE', '/v1/events'],
      ['DELETE', `/v1/users/${user.id}/events`],
    ]) {
      const res = await writer[method.toLowerCase() as 'patch'](path, { body: method === 'DELETE' ? undefined : {} });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.body.error, 'method_not_allowed');
      assert.match(res.headers.get('allow') ?? '', /GET/);
    }
    assert.deepEqual((await reader.get(`/v1/events/${event.id}`)).body, event);
  });

  it('needs a credential with the read scope', async () => {
    assert.equal((await server.client().get('/v1/events')).status, 401);
    const none = server.client('rk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    assert.equal((await none.get('/v1/events')).status, 401);
  });

  it('documents every events and webhooks endpoint in the OpenAPI document', async () => {
    const doc = (await server.client().get('/openapi.json')).body;
    const expected: Record<string, string[]> = {
      '/v1/events': ['get'],
      '/v1/events/{event_id}': ['get'],
      '/v1/users/{user_id}/events': ['get'],
      '/v1/webhook-endpoints': ['get', 'post'],
      '/v1/webhook-endpoints/{id}': ['delete', 'get'],
      '/v1/webhook-endpoints/{id}/deliveries': ['get'],
      '/v1/webhook-endpoints/{id}/attempts': ['get'],
      '/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/retry': ['post'],
    };
    for (const [path, methods] of Object.entries(expected)) {
      assert.ok(doc.paths[path], path);
      assert.deepEqual(Object.keys(doc.paths[path]).sort(), methods, path);
      for (const m of methods) {
        const op = doc.paths[path][m];
        assert.ok(op.operationId && op.summary && op.description && op.tags?.length, `${m} ${path}`);
      }
    }
  });
});
