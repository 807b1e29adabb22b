import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, uniqueUser } from '../helpers/client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

const preflight = (origin: string, method = 'PATCH') => ({
  headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type, if-match' },
});

describe('CORS, off by default', () => {
  let server: TestServer;
  let key: string;
  before(async () => {
    server = await startTestServer();
    key = await server.mintKey(['write']);
  });
  after(() => server.stop());

  it('gives no browser origin access, to requests or preflights', async () => {
    const res = await call(server.url, 'GET', '/v1/users', { key, headers: { origin: 'https://app.example' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    const pre = await call(server.url, 'OPTIONS', '/v1/users', preflight('https://app.example'));
    assert.ok(pre.status === 404 || pre.status === 405, `${pre.status}`);
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
    assert.equal(pre.headers.get('access-control-allow-methods'), null);
  });
});

describe('CORS with CORS_ORIGINS', () => {
  let server: TestServer;
  let key: string;
  before(async () => {
    server = await startTestServer({ config: { corsOrigins: ['https://app.example', 'http://localhost:3000'] } });
    key = await server.mintKey(['write']);
  });
  after(() => server.stop());

  it('answers a listed origin, exposing the headers clients need', async () => {
    const res = await call(server.url, 'POST', '/v1/users', { key, body: uniqueUser(), headers: { origin: 'https://app.example' } });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(res.headers.get('vary') ?? '', /origin/i);
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase();
    for (const h of ['etag', 'location', 'x-request-id', 'x-ratelimit-remaining', 'retry-after']) assert.ok(exposed.includes(h), `${h} exposed`);
    assert.equal(res.headers.get('access-control-allow-credentials'), null, 'bearer credentials, no cookies');
  });

  it('answers the preflight of a listed origin without a credential', async () => {
    const res = await call(server.url, 'OPTIONS', '/v1/users/usr_123abc456def', preflight('http://localhost:3000'));
    assert.equal(res.status, 204, res.text);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /PATCH/);
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const h of ['authorization', 'content-type', 'if-match', 'idempotency-key']) assert.ok(allowed.includes(h), `${h} allowed`);
  });

  it('lets a listed origin read errors too (401 and 404)', async () => {
    const res = await call(server.url, 'GET', '/v1/users', { headers: { origin: 'https://app.example' } });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example');
  });

  it('gives any other origin nothing', async () => {
    for (const origin of ['https://evil.example', 'https://app.example.evil.example', 'null', 'https://APP.example.com']) {
      const res = await call(server.url, 'GET', '/v1/users', { key, headers: { origin } });
      assert.equal(res.headers.get('access-control-allow-origin'), null, origin);
      const pre = await call(server.url, 'OPTIONS', '/v1/users', preflight(origin));
      // Without Access-Control-Allow-Origin the browser refuses, whatever the status.
      assert.equal(pre.headers.get('access-control-allow-origin'), null, origin);
      assert.equal(pre.headers.get('access-control-allow-methods'), null, origin);
    }
  });

  it('keeps 404 for unknown paths and 405 for wrong methods', async () => {
    assert.equal((await call(server.url, 'GET', '/nope', { key })).status, 404);
    const wrong = await call(server.url, 'PUT', '/v1/users', { key, body: {} });
    assert.equal(wrong.status, 405);
    assert.doesNotMatch(wrong.headers.get('allow') ?? '', /OPTIONS/);
  });
});
