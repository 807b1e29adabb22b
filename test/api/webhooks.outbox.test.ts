import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { describeEachBackend, inCI, postgresBackend, postgresUnavailable } from '../helpers/backends.js';
import { clientFor, uniqueUser } from '../helpers/client.js';
import { spawnServer } from '../helpers/processes.js';
import { startReceiver, waitFor } from '../helpers/receiver.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

const FAST = { baseDelayMs: 50, maxDelayMs: 400, retryWindowMs: 60_000, timeoutMs: 10_000, leaseMs: 20_000, pollIntervalMs: 100 };
/**
 * The crashing process must not time out its held request before it is killed; its claim (the
 * lease) is what the restarted server waits out, so it is kept short.
 */
const CRASHING = { ...FAST, timeoutMs: 4000, leaseMs: 6000 };

await describeEachBackend('webhook outbox across a crash', (backend) => {
  it('delivers an event committed before a kill -9, once the server is back', async () => {
    const db = await backend.create();
    // The first request for each event is held open and never answered: the process dies before
    // any delivery is acknowledged.
    const receiver = await startReceiver((req, all) => (all.filter((r) => r.id === req.id).length === 1 ? 'hang' : 200));
    const first = await spawnServer(db.url, { webhooks: CRASHING });
    let restarted: TestServer | undefined;
    try {
      const api = clientFor(first.url, first.key);
      const endpoint = (await api.post('/v1/webhook-endpoints', { body: { url: receiver.url } })).body;
      const created = await api.post('/v1/users', { body: uniqueUser('crash') });
      assert.equal(created.status, 201, created.text);
      const [event] = (await api.get(`/v1/users/${created.body.id}/events`)).body.data;
      await waitFor('the first, unanswered request', () => receiver.forEvent(event.id).length === 1);
      await first.kill9();
      const seenBeforeKill = receiver.received.length;

      // Back on the same database (in this process: what matters is that the first one died).
      restarted = await startTestServer({ databaseUrl: db.url, config: { webhookAllowPrivate: true }, server: { webhooks: FAST } });
      const after = restarted.client(await restarted.mintKey(['admin']));
      const acked = await waitFor('the event after the restart', () => receiver.forEvent(event.id).find((r) => r.answered === 200));
      assert.ok(receiver.received.indexOf(acked) >= seenBeforeKill, 'delivered by the restarted server, not before the kill');
      const payload = new Webhook(endpoint.secret).verify(acked.body, acked.headers as Record<string, string>) as any;
      assert.equal(payload.id, event.id);
      assert.equal(payload.data.object.id, created.body.id);
      const delivery = await waitFor('the delivery recorded as succeeded', async () => {
        const list = (await after.get(`/v1/webhook-endpoints/${endpoint.id}/deliveries`)).body.data;
        return list.find((d: any) => d.event_id === event.id && d.status === 'succeeded');
      });
      assert.equal(delivery.last_response_status, 200);
    } finally {
      await first.stop();
      await restarted?.stop();
      await receiver.close();
      await db.drop();
    }
  });
});

const pgReason = await postgresUnavailable();
describe('two instances on one PostgreSQL database', { skip: pgReason !== null && !inCI ? pgReason : false }, () => {
  it('share the deliveries: every attempt is sent by one instance only, every event acknowledged once', async () => {
    const one = await startTestServer({ backend: postgresBackend, config: { webhookAllowPrivate: true }, server: { webhooks: { ...FAST, pollIntervalMs: 20 } } });
    const two = await startTestServer({ databaseUrl: one.databaseUrl, config: { webhookAllowPrivate: true }, server: { webhooks: { ...FAST, pollIntervalMs: 20 } } });
    const receiver = await startReceiver();
    try {
      const admin = one.client(await one.mintKey(['admin']));
      const endpoint = (await admin.post('/v1/webhook-endpoints', { body: { url: receiver.url } })).body;
      const writers = [one.client(await one.mintKey(['write'])), two.client(await two.mintKey(['write']))];
      const created = await Promise.all(Array.from({ length: 30 }, (_, i) => writers[i % 2].post('/v1/users', { body: uniqueUser('two') })));
      for (const res of created) assert.equal(res.status, 201, res.text);
      const eventIds: string[] = [];
      for (const res of created) eventIds.push((await admin.get(`/v1/users/${res.body.id}/events`)).body.data[0].id);
      await waitFor('every event delivered', () => eventIds.every((id) => receiver.forEvent(id).length > 0));
      await waitFor('every delivery recorded', async () => {
        const list = (await admin.get(`/v1/webhook-endpoints/${endpoint.id}/deliveries?status=pending`)).body.data;
        return list.length === 0;
      });
      // Every HTTP request the receiver got is one recorded attempt of one claim: a delivery sent
      // by both instances would show as a request without its attempt. Under a heavy load an
      // attempt may time out and be retried, so "once" is counted in acknowledged attempts.
      const attempts: any[] = [];
      let cursor: string | null = null;
      do {
        const page: any = await admin.get(`/v1/webhook-endpoints/${endpoint.id}/attempts?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
        attempts.push(...page.body.data);
        cursor = page.body.next_cursor;
      } while (cursor);
      for (const id of eventIds) {
        const mine = attempts.filter((a) => a.event_id === id);
        assert.equal(receiver.forEvent(id).length, mine.length, `event ${id}: ${receiver.forEvent(id).length} requests, ${mine.length} attempts`);
        assert.equal(mine.filter((a) => a.succeeded).length, 1, `event ${id} acknowledged once`);
      }
    } finally {
      await two.stop();
      await one.stop();
      await receiver.close();
    }
  });
});
