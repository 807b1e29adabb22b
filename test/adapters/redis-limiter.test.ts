import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { Redis } from 'ioredis';
import { type RedisConnection, openRedis } from '../../src/adapters/redis.js';
import { createRedisLimiter } from '../../src/adapters/redis-limiter.js';
import { REDIS_TEST_URL, describeWithServices, dropRedisPrefix, uniqueRedisPrefix } from '../helpers/backends.js';

await describeWithServices('Redis limiter', ['redis'], () => {
  const prefix = uniqueRedisPrefix();
  const instances: RedisConnection[] = [];

  before(async () => {
    // Two connections stand for two instances: they share nothing but Redis.
    for (let i = 0; i < 2; i++) instances.push(await openRedis({ url: REDIS_TEST_URL, prefix, warn: () => {} }));
  });
  after(async () => {
    for (const r of instances) await r.close();
    await dropRedisPrefix(prefix);
  });

  it('is one exact budget across instances under concurrency', async () => {
    const [a, b] = instances.map(createRedisLimiter);
    const results = await Promise.all(Array.from({ length: 90 }, (_, i) => (i % 2 ? a : b).consume('credential:k1', 40, 60)));
    const allowed = results.filter((r) => r.allowed);
    assert.equal(allowed.length, 40);
    // Each allowed spend saw a different count: no two read the same value before writing.
    assert.deepEqual(allowed.map((r) => r.remaining).sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i));
    for (const r of results) {
      assert.equal(r.limit, 40);
      assert.ok(r.resetAt > Date.now() / 1000 && r.resetAt <= Date.now() / 1000 + 61);
    }
  });

  it('peeks without spending, resets, and keeps its keys under the prefix', async () => {
    const [a, b] = instances.map(createRedisLimiter);
    assert.deepEqual((await a.peek('auth-failures:1.2.3.4', 2, 60)).allowed, true);
    await a.consume('auth-failures:1.2.3.4', 2, 60);
    await b.consume('auth-failures:1.2.3.4', 2, 60);
    const peeked = await a.peek('auth-failures:1.2.3.4', 2, 60);
    assert.equal(peeked.allowed, false);
    assert.equal(peeked.remaining, 0);
    const raw = new Redis(REDIS_TEST_URL);
    try {
      assert.equal(await raw.get(`${prefix}rl:60:auth-failures:1.2.3.4`), '2');
      await b.reset('auth-failures:1.2.3.4', 2, 60);
      assert.equal(await raw.exists(`${prefix}rl:60:auth-failures:1.2.3.4`), 0);
    } finally {
      raw.disconnect();
    }
    assert.equal((await a.peek('auth-failures:1.2.3.4', 2, 60)).allowed, true);
  });
});
