import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type DeliveryEngine, createDeliveryEngine } from '../../src/services/webhook-deliveries.js';
import { startWebhookWorker } from '../../src/workers/webhook-delivery.js';
import { describeEachBackend } from '../helpers/backends.js';
import { uniqueUser } from '../helpers/client.js';
import { withOutbox } from '../helpers/outbox.js';
import { waitFor } from '../helpers/receiver.js';

it('tells a loop that keeps failing once, not on every poll, and again once it failed anew after working', async () => {
  let failing = true;
  let claims = 0;
  const engine = {
    async claim() {
      claims += 1;
      if (failing) throw new Error('attempt to write a readonly database');
      return { token: 't', deliveries: [] };
    },
    async deliver() {},
  } as unknown as DeliveryEngine;
  const told: unknown[] = [];
  const worker = startWebhookWorker({ engine, pollIntervalMs: 5, onError: (err) => told.push(err) });
  try {
    while (claims < 20) await new Promise((r) => setTimeout(r, 5));
    assert.equal(told.length, 1, `${claims} failed polls, told ${told.length} times`);
    failing = false;
    const worked = claims;
    while (claims < worked + 3) await new Promise((r) => setTimeout(r, 5));
    failing = true;
    const failedAgain = claims;
    while (claims < failedAgain + 5) await new Promise((r) => setTimeout(r, 5));
    assert.equal(told.length, 2, 'a new failure after it worked is told');
  } finally {
    await worker.stop();
  }
});

await describeEachBackend('webhook worker with an endpoint that hangs', (backend) => {
  it('keeps delivering to other endpoints: the hanging one holds no more than its share of the slots', () =>
    withOutbox(backend, [() => 'hang', () => 200], async ({ runtime, config, receivers: [hanging, healthy] }) => {
      const ctx = { actor: { kind: 'system' as const, id: 'test' }, requestId: 'req-hang' };
      // Answers never come within the test: each attempt to the hanging endpoint holds its slot.
      const engine = createDeliveryEngine({ store: runtime.store, config, tuning: { timeoutMs: 60_000, leaseMs: 120_000 } });
      let worker: ReturnType<typeof startWebhookWorker> | undefined;
      try {
        // Its deliveries, one per user, are the oldest due: a claim by age alone would give it every slot.
        await runtime.services.webhooks.create({ url: hanging.url });
        for (let i = 0; i < 8; i++) await runtime.services.users.create(uniqueUser(`hang${i}`), ctx);
        await runtime.services.webhooks.create({ url: healthy.url });
        for (let i = 0; i < 8; i++) await runtime.services.users.create(uniqueUser(`ok${i}`), ctx);
        worker = startWebhookWorker({ engine, concurrency: 4, pollIntervalMs: 20 });
        await waitFor('the healthy endpoint to get its 8 deliveries', () => healthy.received.length >= 8, 15_000);
        assert.equal(hanging.received.length, 1, 'one slot of four (a quarter) for the hanging endpoint');
      } finally {
        await worker?.stop();
      }
    }));
});
