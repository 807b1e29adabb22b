import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runSoak, verdict } from '../../bench/soak.js';

/**
 * The short form of `npm run soak`: mixed traffic against the built server, no error allowed.
 * Latency and memory growth are judged by the long form only: in a few seconds on a shared
 * machine they measure the neighbours, not the service.
 */
it('serves mixed traffic without a single error (short soak)', async () => {
  const report = await runSoak({ seconds: Number(process.env.SOAK_TEST_SECONDS ?? 8), concurrency: 4 });
  console.log(`# soak: ${report.requests} requests, p99 by window ${report.p99ByWindow.join(' ')} ms, RSS ${(report.rssGrowth * 100).toFixed(1)}% after warm-up`);
  assert.deepEqual(verdict(report, { checkLatencyAndMemory: false }), []);
  assert.ok(report.requests > 50, `only ${report.requests} requests`);
});
