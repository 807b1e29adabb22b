import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryLimiter } from '../../src/adapters/limiter.js';
import { addressBlock, createAuthFailureGuard } from '../../src/services/auth-failures.js';

describe('failed-authentication budget per address', () => {
  it('gives one budget to a whole IPv6 /64, and to an IPv4 address however it arrives', async () => {
    const guard = createAuthFailureGuard({ limiter: createMemoryLimiter(), failuresPerMinute: 3 });
    for (const ip of ['fd00:abcd::1', 'fd00:abcd::2', 'fd00:abcd:0:0:ffff::3']) assert.equal((await guard.begin(ip, null)).reserved, true, ip);
    const sameBlock = await guard.begin('fd00:abcd::4', null);
    assert.ok(sameBlock.wait > 0 && !sameBlock.reserved, 'a fourth address of the same /64 waits');
    assert.equal((await guard.begin('fd00:abcd:0:1::1', null)).reserved, true, 'the next /64 has its own budget');

    for (let i = 0; i < 3; i++) assert.equal((await guard.begin('::ffff:10.0.0.1', null)).reserved, true);
    assert.ok((await guard.begin('10.0.0.1', null)).wait > 0, 'an IPv4-mapped address is the IPv4 address');
    assert.equal((await guard.begin('10.0.0.2', null)).reserved, true, 'IPv4 addresses are not grouped');
  });

  it('names the blocks it counts by', () => {
    assert.equal(addressBlock('2001:DB8:0:0:1::5'), '2001:db8:0:0::/64');
    assert.equal(addressBlock('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(addressBlock('192.0.2.7'), '192.0.2.7');
  });
});
