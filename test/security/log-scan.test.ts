import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uniqueUser } from '../helpers/client.js';
import { findLeaks } from '../helpers/log-scan.js';
import { startTestServer } from '../helpers/server.js';

describe('the log scan run at the end of every test server', () => {
  it('recognizes secrets handed out and anything shaped like a credential or hash', () => {
    const key = `rk_abcdefghijkl_${'A'.repeat(43)}`;
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    for (const line of [
      `{"msg":"${key}"}`,
      '{"authorization":"Bearer abcdefgh12345678"}',
      `{"token":"${jwt}"}`,
      '{"hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}',
      '{"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}',
      '{"password":"correct horse \\"battery\\" staple"}',
    ]) {
      assert.equal(findLeaks([line], ['correct horse "battery" staple']).length > 0, true, line);
    }
    assert.deepEqual(findLeaks(['{"msg":"request","route":"/v1/users","status":401}', '{"www":"Bearer realm=\\"roster\\""}'], []), []);
  });

  it('fails a test server whose logs hold a secret', async () => {
    const server = await startTestServer();
    const key = await server.mintKey(['write']);
    assert.equal((await server.client(key).post('/v1/users', { body: uniqueUser() })).status, 201);
    server.server.app.log.info({ oops: `leaked ${key}` }, 'a careless line');
    await assert.rejects(server.stop(), /secrets in the logs/);
  });

  it('finds nothing in the logs of requests that carry secrets everywhere a careless server might log them', async () => {
    const server = await startTestServer({ config: { logLevel: 'trace' } });
    const key = await server.mintKey(['admin']);
    const api = server.client(key);
    const minted = await api.post('/v1/api-keys', { body: { name: 'logged?', scopes: ['read'] } });
    server.secrets.push(minted.body.secret);
    await api.get(`/v1/users?q=${encodeURIComponent(key)}`);
    await api.post('/v1/users', { body: { ...uniqueUser(), metadata: { note: 'x' } }, headers: { 'x-request-id': 'req-1' } });
    await api.post('/v1/users', { rawBody: `{"broken": "${key}`, headers: { 'content-type': 'application/json' } });
    await api.get('/v1/users', { headers: { authorization: `Bearer ${key}x` } });
    await api.get('/v1/users', { headers: { authorization: `Basic ${Buffer.from(`u:${key}`).toString('base64')}` } });
    await api.delete(`/v1/api-keys/${minted.body.id}`);
    assert.ok(server.logs.length >= 7, 'the requests were logged');
    await server.stop();
  });
});
