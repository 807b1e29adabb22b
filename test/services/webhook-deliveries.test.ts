import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openRuntime } from '../../src/compose.js';
import { configWith } from '../../src/config.js';
import { erasePersonalData } from '../../src/services/erasure.js';
import { DEFAULT_TUNING, createDeliveryEngine, retryDelay } from '../../src/services/webhook-deliveries.js';
import { describeEachBackend } from '../helpers/backends.js';
import { uniqueUser } from '../helpers/client.js';
import { startReceiver } from '../helpers/receiver.js';

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
  it('never starts an attempt that could outlast its claim (another worker could send it again)', async () => {
    const db = await backend.create();
    const config = configWith({ databaseUrl: db.url, webhookAllowPrivate: true });
    const runtime = await openRuntime(config);
    const receiver = await startReceiver();
    try {
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
    } finally {
      await receiver.close();
      await runtime.close();
      await db.drop();
    }
  });
});
