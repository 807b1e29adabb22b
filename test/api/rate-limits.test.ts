import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type Limiter, createMemoryLimiter } from '../../src/adapters/limiter.js';
import { describeEachBackend } from '../helpers/backends.js';
import { type ApiResponse, type Client, call, uniqueUser } from '../helpers/client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

const LIMIT = 5;
const AUTH_FAILURES = 3;

function assertRateHeaders(res: ApiResponse, limit: number): { remaining: number; reset: number } {
  const l = res.headers.get('x-ratelimit-limit');
  const r = res.headers.get('x-ratelimit-remaining');
  const s = res.headers.get('x-ratelimit-reset');
  assert.equal(l, String(limit), `X-RateLimit-Limit on ${res.status}`);
  assert.match(r ?? '', /^\d+$/);
  assert.match(s ?? '', /^\d{10}$/, 'Unix seconds');
  const now = Date.now() / 1000;
  assert.ok(Number(s) >= Math.floor(now) && Number(s) <= now + 61, `reset ${s} within the minute`);
  return { remaining: Number(r), reset: Number(s) };
}

/** GET from a chosen loopback address: the whole of 127.0.0.0/8 reaches a server on 127.0.0.1. */
function getFrom(localAddress: string, url: string, key: string): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { localAddress, headers: { authorization: `Bearer ${key}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

await describeEachBackend('rate limits', (backend) => {
  describe('per credential', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ backend, config: { rateLimitPerMinute: LIMIT } });
    });
    after(() => server.stop());

    it('reports X-RateLimit-* on every authenticated response, whatever its status', async () => {
      const writer = server.client(await server.mintKey(['write']));
      const responses = [
        await writer.post('/v1/users', { body: uniqueUser() }),
        await writer.get('/v1/users/usr_000000000000'),
        await writer.post('/v1/users', { body: { email: 'bad' } }),
        await writer.get('/v1/api-keys'),
      ];
      assert.deepEqual(
        responses.map((r) => r.status),
        [201, 404, 400, 403],
      );
      const remaining = responses.map((r) => assertRateHeaders(r, LIMIT).remaining);
      assert.deepEqual(remaining, [4, 3, 2, 1], 'each request spends one');
    });

    it('answers 429 rate_limit_exceeded with Retry-After past the limit', async () => {
      const reader = server.client(await server.mintKey(['read']));
      for (let i = 0; i < LIMIT; i++) assert.equal((await reader.get('/v1/users')).status, 200);
      const res = await reader.get('/v1/users');
      assert.equal(res.status, 429);
      assert.deepEqual(Object.keys(res.body).sort(), ['error', 'message']);
      assert.equal(res.body.error, 'rate_limit_exceeded');
      const retryAfter = res.headers.get('retry-after');
      assert.match(retryAfter ?? '', /^\d+$/);
      // Whole seconds, rounded up: at most the window plus the rounding, and in step with X-RateLimit-Reset.
      const nowSeconds = Date.now() / 1000;
      assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 61, `Retry-After: ${retryAfter}`);
      assert.ok(Math.abs(Number(res.headers.get('x-ratelimit-reset')) - nowSeconds - Number(retryAfter)) <= 2, 'Retry-After points at the reset');
      const { remaining, reset } = assertRateHeaders(res, LIMIT);
      assert.equal(remaining, 0);
      assert.ok(reset >= Math.floor(Date.now() / 1000));
      // A write is refused as well, and does not happen.
      const writerOverLimit = await reader.post('/v1/users', { body: uniqueUser() });
      assert.equal(writerOverLimit.status, 429);
    });

    it('keeps one budget per credential', async () => {
      const a = server.client(await server.mintKey(['read']));
      const b = server.client(await server.mintKey(['read']));
      for (let i = 0; i < LIMIT; i++) await a.get('/v1/users');
      assert.equal((await a.get('/v1/users')).status, 429);
      const fresh = await b.get('/v1/users');
      assert.equal(fresh.status, 200);
      assert.equal(assertRateHeaders(fresh, LIMIT).remaining, LIMIT - 1);
    });

    it('authenticates, counts and labels a malformed URL of a secured route before refusing it', async () => {
      const bad = ['/v1/users/%E0%A4%A', `/v1/users/usr_${'a'.repeat(300)}`];
      for (const path of bad) {
        const anonymous = await call(server.url, 'GET', path);
        assert.equal(anonymous.status, 401, `${path}: ${anonymous.text}`);
        assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="roster"');
      }
      const reader = await server.mintKey(['read']);
      const forbidden = await call(server.url, 'PATCH', bad[0], { key: reader });
      assert.equal(forbidden.status, 403, forbidden.text);
      assert.equal(forbidden.body.message, "This request requires the 'write' scope");
      assert.equal(assertRateHeaders(forbidden, LIMIT).remaining, LIMIT - 1);
      const remaining = [];
      for (const path of bad) {
        const res = await call(server.url, 'GET', path, { key: reader });
        assert.equal(res.status, 400, res.text);
        remaining.push(assertRateHeaders(res, LIMIT).remaining);
      }
      assert.deepEqual(remaining, [LIMIT - 2, LIMIT - 3], 'each request spends one');
      for (let i = LIMIT - 3; i > 0; i--) await call(server.url, 'GET', bad[0], { key: reader });
      const over = await call(server.url, 'GET', bad[1], { key: reader });
      assert.equal(over.status, 429, over.text);
      assert.match(over.headers.get('retry-after') ?? '', /^\d+$/);
    });

    it('does not count or label public endpoints', async () => {
      for (let i = 0; i < LIMIT + 2; i++) {
        const res = await call(server.url, 'GET', '/healthz');
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('x-ratelimit-limit'), null);
      }
    });
  });

  describe('failed authentication, per client address', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ backend, config: { authFailuresPerMinute: AUTH_FAILURES } });
    });
    after(() => server.stop());

    it('answers 429 with Retry-After after AUTH_FAILURES_PER_MINUTE failures from one address, and only there', async () => {
      const bad = `rk_aaaaaaaaaaaa_${'b'.repeat(43)}`;
      const statuses: number[] = [];
      for (let i = 0; i < AUTH_FAILURES; i++) statuses.push((await getFrom('127.0.0.1', `${server.url}/v1/users`, bad)).status);
      assert.deepEqual(statuses, [401, 401, 401]);
      const limited = await call(server.url, 'GET', '/v1/users', { key: bad });
      assert.equal(limited.status, 429);
      assert.equal(limited.body.error, 'rate_limit_exceeded');
      assert.match(limited.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
      const guess = await call(server.url, 'GET', '/v1/users', { key: `rk_bbbbbbbbbbbb_${'c'.repeat(43)}` });
      assert.equal(guess.status, 429, 'further guesses are not even checked');

      // Another address still has its own budget.
      const elsewhere = await getFrom('127.0.0.2', `${server.url}/v1/users`, bad);
      assert.equal(elsewhere.status, 401);
      const good = await server.mintKey(['read']);
      assert.equal((await getFrom('127.0.0.2', `${server.url}/v1/users`, good)).status, 200);
    });

    it('keeps serving credentials that recently succeeded from an address over its failure budget', async () => {
      // Clients behind one address (a NAT, a proxy) share its failure budget: a flood of bad
      // attempts must not lock out a client whose key was already working there.
      const working = await server.mintKey(['read']);
      assert.equal((await getFrom('127.0.0.3', `${server.url}/v1/users`, working)).status, 200);
      const bad = `rk_cccccccccccc_${'d'.repeat(43)}`;
      for (let i = 0; i < AUTH_FAILURES; i++) assert.equal((await getFrom('127.0.0.3', `${server.url}/v1/users`, bad)).status, 401);
      assert.equal((await getFrom('127.0.0.3', `${server.url}/v1/users`, bad)).status, 429);
      assert.equal((await getFrom('127.0.0.3', `${server.url}/v1/users`, working)).status, 200, 'the working key still works');
      // A credential not seen working recently is not even checked: guessing stays blocked.
      const unseen = await server.mintKey(['read']);
      assert.equal((await getFrom('127.0.0.3', `${server.url}/v1/users`, unseen)).status, 429);
    });
  });
});

it('a credential that recently succeeded skips the failed-authentication budget: no limiter call for it', async () => {
  // With Redis that budget check is a round trip per request; a working client needs none.
  const memory = createMemoryLimiter();
  const peeked: string[] = [];
  const limiter: Limiter = {
    ...memory,
    consume: (key, limit, window) => (key.startsWith('auth-failures:') && peeked.push(key), memory.consume(key, limit, window)),
  };
  const server = await startTestServer({ config: { authFailuresPerMinute: AUTH_FAILURES }, runtime: { limiter } });
  try {
    const key = await server.mintKey(['read']);
    assert.equal((await call(server.url, 'GET', '/v1/users', { key })).status, 200);
    assert.equal(peeked.length, 1, 'checked once, before it first succeeded');
    for (let i = 0; i < 5; i++) assert.equal((await call(server.url, 'GET', '/v1/users', { key })).status, 200);
    assert.equal(peeked.length, 1, 'not checked again while it keeps working');
    assert.equal((await call(server.url, 'GET', '/v1/users', { key: `rk_eeeeeeeeeeee_${'f'.repeat(43)}` })).status, 401);
    assert.equal(peeked.length, 2, 'an unknown credential is checked against the budget');
  } finally {
    await server.stop();
  }
});

it('counts a burst of guesses exactly: of 30 at once against a budget of 5, 5 are checked', async () => {
  const server = await startTestServer({ config: { authFailuresPerMinute: 5 } });
  try {
    const key = await server.mintKey(['read']);
    const guesses = await Promise.all(Array.from({ length: 30 }, (_, i) => call(server.url, 'GET', '/v1/users', { key: `rk_burst${String(i).padStart(4, '0')}_${'g'.repeat(43)}` })));
    const statuses = guesses.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 401).length, 5, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 25);
    // A valid credential checked while the budget had room gives its unit back: it is no failure.
    const other = await startTestServer({ config: { authFailuresPerMinute: 2 } });
    try {
      const keys = await Promise.all([1, 2, 3, 4].map(() => other.mintKey(['read'])));
      for (const k of keys) assert.equal((await call(other.url, 'GET', '/v1/users', { key: k })).status, 200);
      assert.equal((await call(other.url, 'GET', '/v1/users', { key: `rk_zzzzzzzzzzzz_${'z'.repeat(43)}` })).status, 401, 'the budget is still whole');
    } finally {
      await other.stop();
    }
  } finally {
    await server.stop();
  }
});
