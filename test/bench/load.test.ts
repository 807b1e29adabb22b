import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type Measure, combine, median, pairedRatio } from '../../bench/load.js';

const round = (requestsPerSecond: number, extra: Partial<Measure> = {}): Measure => ({
  requestsPerSecond,
  p50: 1,
  p99: 4,
  mean: 1000 / requestsPerSecond,
  errors: 0,
  peakRss: 100,
  total: requestsPerSecond * 5,
  cpuPerRequest: 0.1,
  ...extra,
});

it('the median of an odd and of an even number of values', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
});

it('one round that met a busy machine does not move the result; errors add up and memory peaks', () => {
  const m = combine([round(6000, { errors: 1, peakRss: 120 }), round(3000, { p99: 30, peakRss: 190, cpuPerRequest: 0.3 }), round(6200, { errors: 2 })]);
  assert.equal(m.requestsPerSecond, 6000);
  assert.equal(m.p99, 4);
  assert.equal(m.cpuPerRequest, 0.1);
  assert.equal(m.mean, 1000 / 6000);
  assert.equal(m.errors, 3);
  assert.equal(m.peakRss, 190);
  assert.equal(m.total, (6000 + 3000 + 6200) * 5);
});

it('a paired ratio compares the rounds measured side by side: drift and a slow spell of one round do not move it', () => {
  const rps = (m: Measure) => m.requestsPerSecond;
  // The machine drifts (1.0, 0.6, 0.8 of its speed) and, each round, `a` does 0.95× what `b`
  // does beside it; but in the third round a slow spell halves `a` alone.
  const b = [round(8000), round(4800), round(6400)];
  const a = [round(7600), round(4560), round(3040)];
  assert.equal(pairedRatio(a, b, rps).toFixed(4), '0.9500');
  // A ratio of the two medians would set a's slow round against b's middle one.
  assert.equal((combine(a).requestsPerSecond / combine(b).requestsPerSecond).toFixed(4), '0.7125');
  assert.equal(pairedRatio([round(1000)], [round(4000)], rps), 0.25);
  assert.throws(() => pairedRatio(a, b.slice(1), rps), /paired ratio of 3 and 2 rounds/);
});
