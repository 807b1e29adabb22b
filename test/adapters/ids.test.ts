import assert from 'node:assert/strict';
import { it } from 'node:test';
import { randomId } from '../../src/adapters/ids.js';

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
