import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { DeliveryEngine } from '../../src/services/webhook-deliveries.js';
import { startWebhookWorker } from '../../src/workers/webhook-delivery.js';

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
