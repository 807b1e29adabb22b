import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createLocalInvalidations, createRedisInvalidations } from '../../src/adapters/invalidations.js';
import { type RedisConnection, openRedis } from '../../src/adapters/redis.js';
import { REDIS_TEST_URL, describeWithServices, dropRedisPrefix, uniqueRedisPrefix } from '../helpers/backends.js';
import { eventually } from '../helpers/tcp-proxy.js';

it('without Redis, an announcement reaches this process only, by kind', async () => {
  const inv = createLocalInvalidations();
  const seen: string[] = [];
  inv.subscribe('api_key', (id) => seen.push(`key ${id}`));
  inv.subscribe('oauth_client', (id) => seen.push(`client ${id}`));
  await inv.publish('api_key', 'key_1');
  await inv.publish('signing_key', 'sig_1');
  assert.deepEqual(seen, ['key key_1']);
});

await describeWithServices('invalidations over Redis', ['redis'], () => {
  const prefix = uniqueRedisPrefix();
  const other = uniqueRedisPrefix();
  const conns: RedisConnection[] = [];

  before(async () => {
    for (const p of [prefix, prefix, other]) conns.push(await openRedis({ url: REDIS_TEST_URL, prefix: p, warn: () => {} }));
  });
  after(async () => {
    for (const c of conns) await c.close();
    await dropRedisPrefix(prefix);
  });

  it('reach every instance on the same prefix, and no other deployment', async () => {
    const [a, b, elsewhere] = conns.map(createRedisInvalidations);
    const seen = { a: [] as string[], b: [] as string[], elsewhere: [] as string[] };
    a.subscribe('api_key', (id) => seen.a.push(id));
    b.subscribe('api_key', (id) => seen.b.push(id));
    b.subscribe('oauth_client', (id) => seen.b.push(`client:${id}`));
    elsewhere.subscribe('api_key', (id) => seen.elsewhere.push(id));
    // The subscription is made on first use; announce until the other instance hears one.
    await eventually('b subscribed', async () => {
      await a.publish('api_key', 'key_probe');
      return seen.b.includes('key_probe');
    });
    await a.publish('api_key', 'key_revoked');
    await a.publish('oauth_client', 'cli_gone');
    await eventually('b heard both', async () => seen.b.includes('key_revoked') && seen.b.includes('client:cli_gone'));
    assert.ok(seen.a.includes('key_revoked'), 'the publisher hears its own announcement');
    assert.deepEqual(seen.elsewhere, [], 'another REDIS_PREFIX is another deployment');
  });
});
