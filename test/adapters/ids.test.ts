import assert from 'node:assert/strict';
import { it } from 'node:test';
import { randomId, timeOrderedId } from '../../src/adapters/ids.js';

it('randomId gives prefix + [a-z0-9] of the asked length, distinct, across many refills of its byte pool', () => {
  const seen = new Set<string>();
  const counts = new Map<string, number>();
  // 5,000 ids of 16 characters draw over 80,000 bytes: twenty refills of the 4 KiB pool.
  for (let i = 0; i < 5000; i++) {
    const id = randomId('req_', 16);
    assert.match(id, /^req_[a-z0-9]{16}$/);
    seen.add(id);
    for (const c of id.slice(4)) counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  assert.equal(seen.size, 5000);
  // Every one of the 36 characters appears, none wildly more than the others (expected ~2,222 each).
  assert.equal(counts.size, 36);
  for (const [c, n] of counts) assert.ok(n > 1500 && n < 3000, `${c} appeared ${n} times`);
  assert.match(randomId('usr_'), /^usr_[a-z0-9]{12}$/);
});

it('timeOrderedId keeps the id format, sorts by creation time, and stays distinct within one millisecond', async () => {
  const first = timeOrderedId('evt_');
  assert.match(first, /^evt_[a-z0-9]{16}$/);
  const burst = Array.from({ length: 2000 }, () => timeOrderedId('evt_'));
  assert.equal(new Set(burst).size, burst.length);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const later = timeOrderedId('evt_');
  for (const id of burst) assert.ok(first.slice(0, 13) <= id.slice(0, 13) && id < later, `${id} sorts between ${first} and ${later}`);
  // The time part is the milliseconds since 1970 in base 36, so the order holds as strings too.
  assert.equal(Number.parseInt(later.slice(4, 13), 36) <= Date.now(), true);
});
