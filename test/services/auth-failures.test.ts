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

describe('credentials that worked recently, over the address budget', () => {
  it('are exempt in every process that shares the budgets, not only the one that saw them work', async () => {
    const shared = createMemoryLimiter();
    const here = createAuthFailureGuard({ limiter: shared, failuresPerMinute: 2 });
    const there = createAuthFailureGuard({ limiter: shared, failuresPerMinute: 2 });
    const ip = '198.51.100.7';
    const attempt = await here.begin(ip, 'fp-good');
    await here.succeeded(ip, 'fp-good', attempt);
    for (let i = 0; i < 2; i++) await there.begin(ip, `fp-guess-${i}`);
    assert.ok((await there.begin(ip, 'fp-guess-x')).wait > 0, 'guessing is stopped');
    assert.deepEqual(await there.begin(ip, 'fp-good'), { wait: 0, reserved: false }, 'the credential that worked elsewhere goes on');
  });

  it('include an access token just issued, before its first use', async () => {
    const guard = createAuthFailureGuard({ limiter: createMemoryLimiter(), failuresPerMinute: 1 });
    const ip = '198.51.100.8';
    await guard.begin(ip, 'fp-guess');
    assert.ok((await guard.begin(ip, 'fp-token')).wait > 0);
    await guard.trust('fp-token');
    assert.deepEqual(await guard.begin(ip, 'fp-token'), { wait: 0, reserved: false });
  });
});
