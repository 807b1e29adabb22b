import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type Measure, combine, median } from '../../bench/load.js';

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
