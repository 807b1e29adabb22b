import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { call } from '../helpers/client.js';
import { type Operation, fillPath, loadOperations } from '../helpers/openapi.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

/**
 * The auth contract, applied to every operation of /openapi.json that has a security
 * requirement: without a valid credential a 401, without the scope a 403, never a 2xx, and
 * before the body is looked at (a caller without access learns nothing about its validity).
 */

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const future = Math.floor(Date.now() / 1000) + 3600;

/** Credentials that must all be refused with 401. */
function forgedCredentials(validKey: string): Array<[string, string | undefined]> {
  const [, id] = /^rk_([a-z0-9]{12})_/.exec(validKey)!;
  const claims = { iss: 'https://evil.example', sub: 'x', aud: 'roster', scope: 'read write admin', exp: future };
  const hsHeader = b64({ alg: 'HS256', typ: 'at+jwt' });
  const hsSignature = createHmac('sha256', 'guess').update(`${hsHeader}.${b64(claims)}`).digest('base64url');
  return [
    ['no Authorization header', undefined],
    ['an empty header', ''],
    ['Basic credentials', `Basic ${Buffer.from('admin:admin').toString('base64')}`],
    ['Bearer without a credential', 'Bearer'],
    ['Bearer and spaces', 'Bearer    '],
    ['another scheme', `Token ${validKey}`],
    ['the key without a scheme', validKey],
    ['the key with a trailing junk', `Bearer ${validKey}x`],
    ['the key with a byte changed', `Bearer ${validKey.slice(0, -1)}${validKey.endsWith('A') ? 'B' : 'A'}`],
    ['the key truncated', `Bearer ${validKey.slice(0, -5)}`],
    ['a well-formed unknown key', `Bearer rk_${'0'.repeat(12)}_${randomBytes(32).toString('base64url')}`],
    ['a known key id with a forged secret', `Bearer rk_${id}_${randomBytes(32).toString('base64url')}`],
    ['two credentials', `Bearer ${validKey}, Bearer ${validKey}`],
    ['an unsigned JWT (alg none)', `Bearer ${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(claims)}.`],
    ['a JWT signed with a guessed HMAC key', `Bearer ${hsHeader}.${b64(claims)}.${hsSignature}`],
    ['a very long credential', `Bearer ${'a'.repeat(5000)}`],
  ];
}

const ADMIN_PATHS = /api-keys|oauth-clients|webhook-endpoints|metrics/;

/** The least scope an operation should need, by the contract (API.md §5). */
function expectedScope(op: Operation): 'read' | 'write' | 'admin' {
  if (ADMIN_PATHS.test(op.path)) return 'admin';
  return op.method === 'GET' ? 'read' : 'write';
}

describe('authentication and scopes on every secured operation of /openapi.json', () => {
  let server: TestServer;
  let secured: Operation[];
  const keys: Record<string, string> = {};
  let revoked: string;
  let expired: string;

  async function request(op: Operation, authorization: string | undefined) {
    const headers: Record<string, string> = {};
    if (authorization !== undefined) headers.authorization = authorization;
    // A body that is invalid in every way: the answer must still be about the credential.
    const body = op.body ? '{"not valid json' : undefined;
    if (body) headers['content-type'] = 'application/json';
    return call(server.url, op.method, fillPath(op.path, {}), { headers, rawBody: body });
  }

  before(async () => {
    server = await startTestServer({ config: { authFailuresPerMinute: 1_000_000 } });
    for (const scope of ['read', 'write', 'admin'] as const) keys[scope] = await server.mintKey([scope]);
    revoked = await server.mintKey(['admin']);
    const revokedId = `key_${/^rk_([a-z0-9]{12})_/.exec(revoked)![1]}`;
    const res = await server.client(keys.admin).delete(`/v1/api-keys/${revokedId}`);
    assert.equal(res.status, 204, res.text);
    expired = await server.mintKey(['admin'], { expiresInSeconds: 1 });
    // Bearer-protected operations; an endpoint authenticating otherwise (OAuth client
    // credentials at the token endpoint) answers in its own standard's format.
    secured = (await loadOperations(server.url)).operations.filter((op) => op.secured && op.schemes.includes('bearer'));
    // Expiry has whole-second resolution: wait, by polling, until the key has lapsed.
    const deadline = Date.now() + 15_000;
    while ((await server.client(expired).get('/v1/users')).status !== 401) {
      if (Date.now() > deadline) throw new Error('the expiring key never expired');
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(() => server.stop());

  it('finds the secured operations', () => {
    assert.ok(secured.length >= 8, `only ${secured.length} secured operations`);
    assert.ok(secured.some((op) => op.operationId === 'updateUser'));
  });

  it('answers 401 with WWW-Authenticate to a missing, malformed, unknown, forged, revoked or expired credential', async () => {
    const failures: string[] = [];
    const credentials = [...forgedCredentials(keys.admin), ['a revoked key', `Bearer ${revoked}`], ['an expired key', `Bearer ${expired}`]] as Array<[string, string | undefined]>;
    for (const op of secured) {
      for (const [what, authorization] of credentials) {
        const res = await request(op, authorization);
        const where = `${op.method} ${op.path} with ${what}`;
        if (res.status !== 401) failures.push(`${where}: ${res.status} ${res.text.slice(0, 200)}`);
        else {
          if (res.body?.error !== 'unauthorized' || typeof res.body.message !== 'string') failures.push(`${where}: body ${res.text}`);
          if (!/^Bearer\b/.test(res.headers.get('www-authenticate') ?? '')) failures.push(`${where}: no WWW-Authenticate: Bearer`);
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  it('answers 403 naming the scope to a valid credential without it, before reading the body', async () => {
    const failures: string[] = [];
    const order = ['read', 'write', 'admin'] as const;
    for (const op of secured) {
      const needed = expectedScope(op);
      for (const scope of order.slice(0, order.indexOf(needed))) {
        const res = await request(op, `Bearer ${keys[scope]}`);
        const where = `${op.method} ${op.path} with a ${scope} key`;
        if (res.status !== 403) failures.push(`${where}: ${res.status} ${res.text.slice(0, 200)}`);
        else {
          if (res.body?.error !== 'insufficient_scope' || !res.body.message.includes(`'${needed}'`)) failures.push(`${where}: body ${res.text}`);
          if (!(res.headers.get('www-authenticate') ?? '').includes('error="insufficient_scope"')) failures.push(`${where}: no insufficient_scope challenge`);
        }
      }
      // The needed scope, and every scope above it, gets past authentication.
      for (const scope of order.slice(order.indexOf(needed))) {
        const res = await request(op, `Bearer ${keys[scope]}`);
        if (res.status === 401 || res.status === 403) failures.push(`${op.method} ${op.path} with a ${scope} key: refused (${res.status})`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it('limits failed authentications per address, and even then never answers 2xx', async () => {
    const strict = await startTestServer({ config: { authFailuresPerMinute: 3 } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await call(strict.url, 'GET', '/v1/users', { key: `rk_${'0'.repeat(12)}_${'x'.repeat(43)}` })).status);
      assert.deepEqual(statuses.slice(0, 3), [401, 401, 401]);
      assert.deepEqual(statuses.slice(3), [429, 429, 429]);
      const limited = await call(strict.url, 'GET', '/v1/users', { key: 'nonsense' });
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      assert.equal(limited.body.error, 'rate_limit_exceeded');
    } finally {
      await strict.stop();
    }
  });
});
