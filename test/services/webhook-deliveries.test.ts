import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { erasePersonalData } from '../../src/services/erasure.js';
import { DEFAULT_TUNING, createDeliveryEngine, retryDelay } from '../../src/services/webhook-deliveries.js';
import { describeEachBackend } from '../helpers/backends.js';
import { uniqueUser } from '../helpers/client.js';
import { withOutbox } from '../helpers/outbox.js';
import { waitFor } from '../helpers/receiver.js';

describe('webhook retry schedule', () => {
  it('doubles per attempt within [delay/2, delay], capped', () => {
    const tuning = { baseDelayMs: 1000, maxDelayMs: 10_000 };
    assert.equal(retryDelay(1, tuning, () => 0), 500);
    assert.equal(retryDelay(1, tuning, () => 1), 1000);
    assert.equal(retryDelay(3, tuning, () => 1), 4000);
    assert.equal(retryDelay(3, tuning, () => 0), 2000);
    assert.equal(retryDelay(20, tuning, () => 1), 10_000, 'capped');
    const spread = new Set(Array.from({ length: 50 }, () => retryDelay(4, tuning)));
    assert.ok(spread.size > 1, 'jittered');
  });

  it('retries for at least 24 hours in production, then gives up', () => {
    assert.ok(DEFAULT_TUNING.retryWindowMs >= 24 * 3600_000);
    assert.ok(DEFAULT_TUNING.leaseMs > DEFAULT_TUNING.timeoutMs, 'a claim outlives the attempt it covers');
    // Fastest possible schedule (all jitter at its minimum): the attempts still span the window.
    let elapsed = 0;
    let attempts = 0;
    while (elapsed < DEFAULT_TUNING.retryWindowMs) {
      attempts += 1;
      elapsed += retryDelay(attempts, DEFAULT_TUNING, () => 0);
    }
    assert.ok(attempts > 5 && attempts < 100, `${attempts} attempts`);
  });
});

describe('event erasure', () => {
  it('nulls personal values, keeps ids, times, role and the names of changed fields', () => {
    const data = {
      object: { id: 'usr_1', email: 'a@b.c', username: 'ab', first_name: 'A', last_name: 'B', role: 'admin', email_verified: true, pending_email: 'n@b.c', metadata: { plan: 'x' }, created_at: 't', updated_at: 'u' },
      previous_attributes: { email: 'old@b.c', role: 'member', metadata: { plan: 'y', ssn: '1' } },
      email: 'also@b.c',
    };
    assert.deepEqual(erasePersonalData(data), {
      object: { id: 'usr_1', email: null, username: null, first_name: null, last_name: null, role: 'admin', email_verified: true, pending_email: null, metadata: { plan: null }, created_at: 't', updated_at: 'u' },
      previous_attributes: { email: null, role: 'member', metadata: { plan: null, ssn: null } },
      email: null,
    });
  });
});

await describeEachBackend('delivery claims', (backend) => {
  it('never starts an attempt that could outlast its claim (another worker could send it again)', () =>
    withOutbox(backend, [() => 200], async ({ runtime, config, receivers: [receiver] }) => {
      await runtime.services.webhooks.create({ url: receiver.url });
      await runtime.services.users.create(uniqueUser('claim'), { actor: { kind: 'system', id: 'test' }, requestId: 'req-claim' });
      // A claim shorter than the attempt's timeout: the attempt must not start.
      const hasty = createDeliveryEngine({ store: runtime.store, config, tuning: { leaseMs: 1000, timeoutMs: 5000 } });
      const first = await hasty.claim(10);
      assert.equal(first.deliveries.length, 1);
      await hasty.deliver(first.deliveries[0], first.token);
      assert.equal(receiver.received.length, 0);
      // The claim was given back uncounted: a worker whose claim covers its timeout takes it at once.
      const sound = createDeliveryEngine({ store: runtime.store, config, tuning: { leaseMs: 10_000, timeoutMs: 2000 } });
      const second = await sound.claim(10);
      assert.equal(second.deliveries.length, 1);
      assert.equal(second.deliveries[0].attempts, 1);
      assert.equal((await sound.claim(10)).deliveries.length, 0, 'claimed: no one else gets it');
      await sound.deliver(second.deliveries[0], second.token);
      assert.equal(receiver.received.length, 1);
      assert.equal(receiver.received[0].answered, 200);
    }));
});

await describeEachBackend('manual redelivery', (backend) => {
  it('restarts the backoff at the base delay, then doubles it, while attempts keeps the total', () =>
    withOutbox(backend, [() => 500], async ({ runtime, config, receivers: [receiver] }) => {
      const lease = { leaseMs: 10_000, timeoutMs: 2000 };
      const endpoint = await runtime.services.webhooks.create({ url: receiver.url });
      await runtime.services.users.create(uniqueUser('redeliver'), { actor: { kind: 'system', id: 'test' }, requestId: 'req-redeliver' });
      async function attempt(engine: ReturnType<typeof createDeliveryEngine>) {
        const { token, deliveries } = await waitFor('a due delivery', async () => {
          const claimed = await engine.claim(10);
          return claimed.deliveries.length > 0 ? claimed : null;
        });
        assert.equal(deliveries.length, 1);
        const before = Date.now();
        await engine.deliver(deliveries[0], token);
        const after = Date.now();
        const d = (await runtime.store.webhookDeliveries.findById(endpoint.id, deliveries[0].id))!;
        // The delay chosen, bracketed by when the attempt could have ended (stored times keep whole seconds).
        return { ...d, delay: { atLeast: d.nextAttemptAt - after, atMost: d.nextAttemptAt - before } };
      }
      // Nine failed attempts, the last one past the retry window: the delivery is given up.
      const quick = createDeliveryEngine({ store: runtime.store, config, tuning: { ...lease, baseDelayMs: 1, maxDelayMs: 1 } });
      for (let i = 0; i < 8; i += 1) assert.equal((await attempt(quick)).status, 'pending');
      const expired = createDeliveryEngine({ store: runtime.store, config, tuning: { ...lease, retryWindowMs: 0 } });
      const failed = await attempt(expired);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.attempts, 9);

      const retried = await runtime.services.webhooks.retryDelivery(endpoint.id, failed.id);
      assert.equal(retried.status, 'pending');
      assert.equal(retried.attempts, 9, 'the wire still counts every attempt');
      // Resuming at the tenth attempt's backoff would wait at least 128 s; a fresh
      // schedule waits the base delay (half of it fixed, half jitter), then twice that.
      const engine = createDeliveryEngine({ store: runtime.store, config, tuning: { ...lease, baseDelayMs: 500, maxDelayMs: 3_600_000 } });
      const first = await attempt(engine);
      assert.equal(first.status, 'pending');
      assert.ok(first.delay.atMost >= 250 && first.delay.atLeast <= 500, `first delay after the retry: ${JSON.stringify(first.delay)} ms`);
      const second = await attempt(engine);
      assert.ok(second.delay.atMost >= 500 && second.delay.atLeast <= 1000, `second delay after the retry: ${JSON.stringify(second.delay)} ms`);
      assert.equal(second.attempts, 11);
      const [wire] = (await runtime.services.webhooks.listDeliveries(endpoint.id, {})).data;
      assert.equal(wire.attempts, 11);
      assert.equal(receiver.received.length, 11);
    }));
});

await describeEachBackend('retry window', (backend) => {
  it("opens at a delivery's first attempt: one queued behind a user's failing delivery gets a window of its own", () =>
    withOutbox(backend, [() => 500], async ({ runtime, config, receivers: [receiver] }) => {
      const ctx = { actor: { kind: 'system' as const, id: 'test' }, requestId: 'req-window' };
      const endpoint = await runtime.services.webhooks.create({ url: receiver.url });
      const user = await runtime.services.users.create(uniqueUser('window'), ctx);
      await runtime.services.users.update(user.id, { first_name: 'Later' }, ctx);
      const engine = createDeliveryEngine({ store: runtime.store, config, tuning: { leaseMs: 10_000, timeoutMs: 2000, baseDelayMs: 1, maxDelayMs: 1, retryWindowMs: 1500 } });
      async function attempt() {
        const { token, deliveries } = await waitFor('a due delivery', async () => {
          const claimed = await engine.claim(10);
          return claimed.deliveries.length > 0 ? claimed : null;
        });
        assert.equal(deliveries.length, 1, 'one at a time: the later waits for the earlier');
        await engine.deliver(deliveries[0], token);
        return (await runtime.store.webhookDeliveries.findById(endpoint.id, deliveries[0].id))!;
      }
      // The first, retried until its 1.5 s window has passed, is given up; the second waited all along.
      let first = await attempt();
      while (first.status === 'pending') {
        await new Promise((r) => setTimeout(r, 100));
        first = await attempt();
      }
      assert.equal(first.status, 'failed');
      const second = await attempt();
      assert.notEqual(second.id, first.id);
      assert.deepEqual([second.status, second.attempts], ['pending', 1], 'failed once, retried, not given up');
    }));
});
