import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ApiResponse, call } from '../helpers/client.js';
import { fillPath, loadOperations } from '../helpers/openapi.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

/** Headers suited to an API on every answer: success, error, public and secured alike. */
function headerProblems(where: string, res: ApiResponse, cacheable = false): string[] {
  const problems: string[] = [];
  if (res.headers.get('x-content-type-options') !== 'nosniff') problems.push(`${where}: no X-Content-Type-Options: nosniff`);
  if (res.headers.has('x-powered-by')) problems.push(`${where}: X-Powered-By`);
  if (!res.headers.get('x-request-id')) problems.push(`${where}: no X-Request-Id`);
  if (!cacheable && res.headers.get('cache-control') !== 'no-store') problems.push(`${where}: Cache-Control is ${res.headers.get('cache-control')}`);
  if (res.headers.has('server')) problems.push(`${where}: a Server header`);
  return problems;
}

describe('response headers', () => {
  let server: TestServer;
  let admin: string;

  before(async () => {
    server = await startTestServer();
    admin = await server.mintKey(['admin']);
  });
  after(() => server.stop());

  it('are on every operation of /openapi.json, with and without a credential', async () => {
    const { operations } = await loadOperations(server.url);
    const problems: string[] = [];
    for (const op of operations) {
      for (const key of [admin, undefined]) {
        const res = await call(server.url, op.method, fillPath(op.path, {}), { key, body: op.body ? {} : undefined });
        problems.push(...headerProblems(`${op.method} ${op.path} → ${res.status}`, res));
      }
    }
    assert.deepEqual(problems, []);
  });

  it('are on answers that carry a secret, and on errors from every stage of the pipeline', async () => {
    const created = await call(server.url, 'POST', '/v1/api-keys', { key: admin, body: { name: 'shown once', scopes: ['read'] } });
    assert.equal(created.status, 201);
    assert.match(created.body.secret, /^rk_/);
    server.secrets.push(created.body.secret);
    const answers: Array<[string, ApiResponse]> = [
      ['a new API key', created],
      ['an unknown route', await call(server.url, 'GET', '/nope')],
      ['a wrong method', await call(server.url, 'PUT', '/v1/users')],
      ['malformed JSON', await call(server.url, 'POST', '/v1/users', { key: admin, rawBody: '{', headers: { 'content-type': 'application/json' } })],
      ['a bad path encoding', await call(server.url, 'GET', '/v1/users/%')],
      ['a body over 64 KiB', await call(server.url, 'POST', '/v1/users', { key: admin, rawBody: 'x'.repeat(70_000), headers: { 'content-type': 'application/json' } })],
      ['/openapi.json', await call(server.url, 'GET', '/openapi.json')],
    ];
    const problems = answers.flatMap(([what, res]) => headerProblems(what, res));
    assert.deepEqual(problems, []);
  });

  it('let the static API reference be cached, without sniffing', async () => {
    const res = await call(server.url, 'GET', '/docs/static/index.html');
    assert.equal(res.status, 200);
    assert.deepEqual(headerProblems('/docs', res, true), []);
  });
});
