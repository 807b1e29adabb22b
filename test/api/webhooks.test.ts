import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { signWebhook } from '../../src/services/webhook-signature.js';
import { describeEachBackend, sqliteBackend } from '../helpers/backends.js';
import { type Client, uniqueUser } from '../helpers/client.js';
import { type Receiver, startReceiver, waitFor } from '../helpers/receiver.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

/** Short delays for tests only: production retries for 24 hours with a 10 s timeout. */
const FAST = { baseDelayMs: 50, maxDelayMs: 400, retryWindowMs: 5000, timeoutMs: 1000, leaseMs: 4000, pollIntervalMs: 100 };

describe('Standard Webhooks signature', () => {
  it('matches the published test vector, as the standardwebhooks package does', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const expected = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
    assert.equal(signWebhook(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'), expected);
    assert.equal(new Webhook(secret).sign('msg_p5jXN8AQM9LWM0D4loKWxJek', new Date(1614265330 * 1000), '{"test": 2432232314}'), expected);
  });
});

await describeEachBackend('webhooks', (backend) => {
  let server: TestServer;
  let admin: Client;
  let writer: Client;
  let receiver: Receiver;

  before(async () => {
    server = await startTestServer({ backend, config: { webhookAllowPrivate: true }, server: { webhooks: FAST } });
    admin = server.client(await server.mintKey(['admin']));
    writer = server.client(await server.mintKey(['write']));
    receiver = await startReceiver();
  });
  after(async () => {
    await server.stop();
    await receiver.close();
  });

  async function createEndpoint(url: string, extra: Record<string, unknown> = {}) {
    const res = await admin.post('/v1/webhook-endpoints', { body: { url, ...extra } });
    assert.equal(res.status, 201, res.text);
    return res.body as { id: string; secret: string; url: string };
  }

  async function createUser() {
    const res = await writer.post('/v1/users', { body: { ...uniqueUser('wh'), first_name: 'Ada' } });
    assert.equal(res.status, 201, res.text);
    return res.body as { id: string; email: string };
  }

  async function eventsOf(userId: string): Promise<{ id: string; type: string }[]> {
    return (await writer.get(`/v1/users/${userId}/events?limit=100`)).body.data;
  }

  async function deliveryOf(endpointId: string, eventId: string) {
    const res = await admin.get(`/v1/webhook-endpoints/${endpointId}/deliveries?limit=100`);
    assert.equal(res.status, 200, res.text);
    return (res.body.data as any[]).find((d) => d.event_id === eventId);
  }

  it('creates an endpoint with a whsec_ secret shown once, and needs the admin scope', async () => {
    const denied = await writer.post('/v1/webhook-endpoints', { body: { url: receiver.url } });
    assert.equal(denied.status, 403);
    const res = await admin.post('/v1/webhook-endpoints', { body: { url: receiver.url, event_types: ['user.created'], description: 'crm' } });
    assert.equal(res.status, 201, res.text);
    assert.match(res.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(Buffer.from(res.body.secret.slice(6), 'base64').length, 32);
    assert.equal(res.headers.get('location'), `/v1/webhook-endpoints/${res.body.id}`);
    assert.deepEqual(res.body.event_types, ['user.created']);
    assert.equal(res.body.status, 'enabled');
    const one = await admin.get(`/v1/webhook-endpoints/${res.body.id}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.secret, undefined);
    const list = await admin.get('/v1/webhook-endpoints');
    assert.ok(list.body.data.some((e: any) => e.id === res.body.id));
    assert.ok(!list.text.includes(res.body.secret), 'the secret is never returned again');
    assert.ok(!JSON.stringify(server.logs).includes(res.body.secret), 'nor logged');
    assert.equal((await admin.delete(`/v1/webhook-endpoints/${res.body.id}`)).status, 204);
    assert.equal((await admin.get(`/v1/webhook-endpoints/${res.body.id}`)).status, 404);
  });

  it('rejects bad URLs and unknown fields with validation_error', async () => {
    for (const url of ['ftp://example.com/x', 'not a url', 'http://user:pw@127.0.0.1/x']) {
      const res = await admin.post('/v1/webhook-endpoints', { body: { url } });
      assert.equal(res.status, 400, url);
      assert.equal(res.body.error, 'validation_error');
      assert.ok(res.body.details.url);
    }
    const bad = await admin.post('/v1/webhook-endpoints', { body: { url: receiver.url, event_types: ['user.exploded'], secret: 'x' } });
    assert.equal(bad.status, 400);
    assert.deepEqual(Object.keys(bad.body.details).sort(), ['event_types', 'secret']);
  });

  it('names the allowed values of a status filter, as of any other enumerated field', async () => {
    const endpoint = (await admin.post('/v1/webhook-endpoints', { body: { url: receiver.url } })).body;
    const res = await admin.get(`/v1/webhook-endpoints/${endpoint.id}/deliveries?status=bogus`);
    assert.equal(res.status, 400, res.text);
    assert.deepEqual(res.body.details, { status: ['Must be one of: pending, succeeded, failed'] });
    await admin.delete(`/v1/webhook-endpoints/${endpoint.id}`);
  });

  it('delivers each event signed per Standard Webhooks, verifiable with the standardwebhooks package', async () => {
    const endpoint = await createEndpoint(receiver.url);
    try {
      const user = await createUser();
      const [created] = await eventsOf(user.id);
      const [req] = await waitFor('the user.created delivery', () => (receiver.forEvent(created.id).length ? receiver.forEvent(created.id) : null));
      const payload = new Webhook(endpoint.secret).verify(req.body, req.headers as Record<string, string>) as any;
      assert.equal(req.headers['webhook-id'], created.id);
      assert.equal(req.headers['content-type'], 'application/json');
      assert.deepEqual(payload, (await writer.get(`/v1/events/${created.id}`)).body);
      assert.equal(payload.type, 'user.created');
      assert.equal(payload.data.object.email, user.email);
      assert.throws(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(req.body, req.headers as Record<string, string>), 'another secret fails');
      assert.throws(() => new Webhook(endpoint.secret).verify(req.body.replace('Ada', 'Eve'), req.headers as Record<string, string>), 'a changed body fails');
    } finally {
      await admin.delete(`/v1/webhook-endpoints/${endpoint.id}`);
    }
  });

  it('retries a receiver that fails three times; the event is acknowledged exactly once', async () => {
    const flaky = await startReceiver((req, all) => (all.filter((r) => r.id === req.id).length <= 3 ? 500 : 200));
    const endpoint = await createEndpoint(flaky.url, { event_types: ['user.created'] });
    try {
      const user = await createUser();
      const [created] = await eventsOf(user.id);
      const delivery = await waitFor('the delivery to succeed', async () => {
        const d = await deliveryOf(endpoint.id, created.id);
        return d?.status === 'succeeded' ? d : null;
      });
      const requests = flaky.forEvent(created.id);
      assert.deepEqual(
        requests.map((r) => r.answered),
        [500, 500, 500, 200],
      );
      assert.equal(delivery.attempts, 4);
      assert.equal(delivery.last_response_status, 200);
      for (const r of requests) new Webhook(endpoint.secret).verify(r.body, r.headers as Record<string, string>);
      const attempts = (await admin.get(`/v1/webhook-endpoints/${endpoint.id}/attempts?limit=100`)).body.data.filter((a: any) => a.event_id === created.id);
      assert.deepEqual(
        attempts.map((a: any) => [a.response_status, a.succeeded, a.error]),
        [
          [500, false, 'HTTP 500'],
          [500, false, 'HTTP 500'],
          [500, false, 'HTTP 500'],
          [200, true, null],
        ],
      );
      for (const a of attempts) assert.ok(Number.isInteger(a.latency_ms) && a.latency_ms >= 0);
    } finally {
      await admin.delete(`/v1/webhook-endpoints/${endpoint.id}`);
      await flaky.close();
    }
  });

  it("keeps each user's events in order: a later one waits until the earlier one is acknowledged", async () => {
    // The first event of every user fails twice before it is accepted.
    const ordered = await startReceiver((req, all) => {
      const body = JSON.parse(req.body);
      if (body.type !== 'user.created') return 200;
      return all.filter((r) => r.id === req.id).length <= 2 ? 503 : 200;
    });
    const endpoint = await createEndpoint(ordered.url);
    try {
      const users = await Promise.all([createUser(), createUser()]);
      for (let i = 1; i <= 4; i++) {
        for (const u of users) assert.equal((await writer.patch(`/v1/users/${u.id}`, { body: { first_name: `N${i}` } })).status, 200);
      }
      for (const u of users) {
        const ids = (await eventsOf(u.id)).map((e) => e.id);
        assert.equal(ids.length, 5);
        await waitFor('every event acknowledged', () => ids.every((id) => ordered.forEvent(id).some((r) => r.answered === 200)));
        const mine = ordered.received.filter((r) => ids.includes(r.id));
        // No request for event k before event k-1 was answered 200.
        for (let i = 0; i < mine.length; i++) {
          const k = ids.indexOf(mine[i].id);
          for (const earlier of ids.slice(0, k)) {
            assert.ok(
              mine.slice(0, i).some((r) => r.id === earlier && r.answered === 200),
              `event ${k} was sent before event ${ids.indexOf(earlier)} was acknowledged`,
            );
          }
        }
        assert.deepEqual(
          mine.filter((r) => r.answered === 200).map((r) => r.id),
          ids,
        );
      }
    } finally {
      await admin.delete(`/v1/webhook-endpoints/${endpoint.id}`);
      await ordered.close();
    }
  });

  it('cuts off a slow endpoint after the timeout without holding up API requests, gives up after the retry window, marks it failing, and redelivers on request', async () => {
    let mode: 'hang' | 'fail' | 'ok' = 'hang';
    const slow = await startReceiver(() => (mode === 'hang' ? 'hang' : mode === 'fail' ? 500 : 200));
    const endpoint = await createEndpoint(slow.url, { event_types: ['user.created'] });
    try {
      const user = await createUser();
      const [created] = await eventsOf(user.id);
      await waitFor('the slow request', () => slow.forEvent(created.id).length > 0);
      // While the endpoint holds its request open, the API answers.
      assert.equal((await writer.get(`/v1/users/${user.id}`)).status, 200);
      const timedOut = await waitFor('a timed-out attempt', async () => {
        const attempts = (await admin.get(`/v1/webhook-endpoints/${endpoint.id}/attempts?limit=100`)).body.data;
        return attempts.find((a: any) => a.event_id === created.id && /timed out/.test(a.error ?? '')) ?? null;
      });
      assert.equal(timedOut.response_status, null);
      mode = 'fail';
      const failed = await waitFor('the delivery to be given up', async () => {
        const d = await deliveryOf(endpoint.id, created.id);
        return d?.status === 'failed' ? d : null;
      });
      assert.ok(failed.attempts >= 2);
      assert.ok(failed.completed_at);
      const ep = (await admin.get(`/v1/webhook-endpoints/${endpoint.id}`)).body;
      assert.equal(ep.status, 'failing');
      assert.ok(ep.failing_since);

      mode = 'ok';
      const retry = await admin.post(`/v1/webhook-endpoints/${endpoint.id}/deliveries/${failed.id}/retry`);
      assert.equal(retry.status, 202, retry.text);
      assert.equal(retry.body.status, 'pending');
      await waitFor('the redelivery', async () => (await deliveryOf(endpoint.id, created.id))?.status === 'succeeded');
      assert.equal(slow.forEvent(created.id).filter((r) => r.answered === 200).length, 1);
      assert.equal((await admin.get(`/v1/webhook-endpoints/${endpoint.id}`)).body.status, 'enabled');
      const again = await admin.post(`/v1/webhook-endpoints/${endpoint.id}/deliveries/dlv_doesnotexist00/retry`);
      assert.equal(again.status, 404);
    } finally {
      await admin.delete(`/v1/webhook-endpoints/${endpoint.id}`);
      await slow.close();
    }
  });

  it('sends only the subscribed event types, and nothing after the endpoint is deleted', async () => {
    const picky = await startReceiver();
    const endpoint = await createEndpoint(picky.url, { event_types: ['user.deleted'] });
    const user = await createUser();
    assert.equal((await writer.patch(`/v1/users/${user.id}`, { body: { first_name: 'Z' } })).status, 200);
    assert.equal((await writer.delete(`/v1/users/${user.id}`)).status, 204);
    const events = await eventsOf(user.id);
    const deleted = events.find((e) => e.type === 'user.deleted')!;
    await waitFor('the user.deleted delivery', () => picky.forEvent(deleted.id).some((r) => r.answered === 200));
    const deliveries = (await admin.get(`/v1/webhook-endpoints/${endpoint.id}/deliveries`)).body.data;
    assert.deepEqual(
      deliveries.map((d: any) => d.event_type),
      ['user.deleted'],
    );
    assert.equal((await admin.delete(`/v1/webhook-endpoints/${endpoint.id}`)).status, 204);
    assert.equal((await admin.get(`/v1/webhook-endpoints/${endpoint.id}/deliveries`)).status, 404);
    await picky.close();
  });

  it('ends the pending deliveries of an endpoint it deletes, instead of leaving them for no one', async () => {
    const failing = await startReceiver(() => 500);
    try {
      const endpoint = await createEndpoint(failing.url);
      await createUser();
      await waitFor('a first failed attempt', () => failing.received.length > 0);
      assert.equal((await admin.delete(`/v1/webhook-endpoints/${endpoint.id}`)).status, 204);
      const rows = await server.server.runtime.database.db.selectFrom('webhook_deliveries').select(['status', 'completed_at']).where('endpoint_id', '=', endpoint.id).execute();
      assert.ok(rows.length > 0);
      for (const row of rows) assert.ok(row.status !== 'pending' && row.completed_at !== null, JSON.stringify(row));
    } finally {
      await failing.close();
    }
  });
});

describe('webhook URLs on private addresses [sqlite]', () => {
  let server: TestServer;
  let admin: Client;

  before(async () => {
    server = await startTestServer({ backend: sqliteBackend, config: { webhookAllowPrivate: false }, server: { webhooks: FAST } });
    admin = server.client(await server.mintKey(['admin']));
  });
  after(() => server.stop());

  it('refuses loopback, private, link-local and mapped addresses at creation', async () => {
    for (const url of [
      'http://127.0.0.1:9/x',
      'http://localhost:9/x',
      'http://10.1.2.3/x',
      'http://192.168.0.10/x',
      'http://172.16.5.4/x',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/x',
      'http://[::ffff:127.0.0.1]/x',
      'http://[fd00::1]/x',
      'http://0.0.0.0/x',
      // IPv4-compatible (written ::7f00:1 once parsed), Teredo and the 6to4 relay anycast.
      'http://[::127.0.0.1]/x',
      'http://[::a00:1]/x',
      'http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x',
      'http://192.88.99.1/x',
      // 6to4 of 127.0.0.0 with its last groups compressed, and IPv4-translated (::ffff:0:0:0/96).
      'http://[2002:7f00::]/x',
      'http://[2002:7f00:1::]/x',
      'http://[::ffff:0:7f00:1]/x',
      'http://[::ffff:0:127.0.0.1]/x',
      'http://[0:0:0:0:0:ffff:a00:1]/x',
    ]) {
      const res = await admin.post('/v1/webhook-endpoints', { body: { url } });
      assert.equal(res.status, 400, url);
      assert.equal(res.body.error, 'validation_error');
      assert.match(res.body.details.url[0], /loopback or private/);
    }
  });

  it('accepts a public address', async () => {
    const res = await admin.post('/v1/webhook-endpoints', { body: { url: 'https://93.184.216.34/hooks' } });
    assert.equal(res.status, 201, res.text);
    await admin.delete(`/v1/webhook-endpoints/${res.body.id}`);
  });

  it('checks again at delivery time: an endpoint that became private is not called', async () => {
    const receiver = await startReceiver();
    // Registered while private addresses were allowed, then the server runs without the permission
    // (as a DNS name that starts resolving to a private address would be).
    const permissive = await startTestServer({ databaseUrl: server.databaseUrl, config: { webhookAllowPrivate: true }, server: { webhooks: { ...FAST, pollIntervalMs: 60_000 } } });
    const endpoint = (await permissive.client(await permissive.mintKey(['admin'])).post('/v1/webhook-endpoints', { body: { url: receiver.url } })).body;
    await permissive.stop();
    try {
      const writer = server.client(await server.mintKey(['write']));
      const user = (await writer.post('/v1/users', { body: uniqueUser('priv') })).body;
      const attempt = await waitFor('a refused attempt', async () => {
        const attempts = (await admin.get(`/v1/webhook-endpoints/${endpoint.id}/attempts`)).body.data;
        return attempts[0] ?? null;
      });
      assert.match(attempt.error, /non-public address 127\.0\.0\.1/);
      assert.equal(attempt.succeeded, false);
      assert.equal(receiver.received.length, 0);
      assert.ok(user.id);
    } finally {
      await receiver.close();
    }
  });
});

describe('the README receiver example [sqlite]', () => {
  it('verifies and acknowledges real deliveries, and rejects a forged one', async () => {
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const code = /A receiver in Node[^\n]*\n\n```js\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(code, 'the example is in the README');
    const dir = mkdtempSync(join(tmpdir(), 'roster-receiver-'));
    const file = join(dir, 'receiver.mjs');
    writeFileSync(file, code.replace('.listen(3000)', '.listen(0, "127.0.0.1", function () { console.log("port", this.address().port); })'));
    const server = await startTestServer({ config: { webhookAllowPrivate: true }, server: { webhooks: FAST } });
    const admin = server.client(await server.mintKey(['admin']));
    const probe = await startReceiver();
    const endpointUrl = await admin.post('/v1/webhook-endpoints', { body: { url: probe.url } });
    const secret = endpointUrl.body.secret as string;
    await admin.delete(`/v1/webhook-endpoints/${endpointUrl.body.id}`);
    await probe.close();
    const child = spawn(process.execPath, [file], { env: { ...process.env, ROSTER_WEBHOOK_SECRET: secret }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    try {
      const port = await waitFor('the receiver to listen', () => /port (\d+)/.exec(out)?.[1]);
      // The example's port is known only now, and the API never shows a secret twice: the
      // endpoint with the secret handed to the example is written to the store directly.
      const store = server.server.runtime.store;
      await store.webhookEndpoints.insert({
        id: 'we_readmeexampl',
        url: `http://127.0.0.1:${port}/`,
        description: null,
        eventTypes: ['*'],
        secret,
        status: 'enabled',
        failingSince: null,
        createdAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      });
      const user = (await server.client(await server.mintKey(['write'])).post('/v1/users', { body: uniqueUser('readme') })).body;
      await waitFor('the example to log the event', () => out.includes(`user.created ${user.id}`));
      const delivery = await waitFor('the acknowledged delivery', async () => {
        const list = (await admin.get('/v1/webhook-endpoints/we_readmeexampl/deliveries')).body.data;
        return list.find((d: any) => d.status === 'succeeded');
      });
      assert.equal(delivery.last_response_status, 204);
      const forged = await fetch(`http://127.0.0.1:${port}/`, {
        method: 'POST',
        headers: { 'webhook-id': 'evt_x', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAA' },
        body: '{}',
      });
      assert.equal(forged.status, 400);
    } finally {
      child.kill();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
