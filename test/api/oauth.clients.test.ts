import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, it } from 'node:test';
import { type Client, clientFor } from '../helpers/client.js';
import { basic, eventually, startOAuthServer, tokenRequest } from '../helpers/oauth.js';
import type { TestServer } from '../helpers/server.js';

let server: TestServer;
let admin: Client;

before(async () => {
  server = await startOAuthServer();
  admin = server.client(await server.mintKey(['admin']));
});
after(() => server.stop());

it('creates a client with its secret shown once, stored only as a hash', async () => {
  const res = await admin.post('/v1/oauth-clients', { body: { name: 'billing', scopes: ['write'] } });
  assert.equal(res.status, 201, res.text);
  assert.match(res.body.client_id, /^cli_[a-z0-9]{12}$/);
  assert.match(res.body.client_secret, /^rcs_[A-Za-z0-9_-]{43}$/);
  assert.equal(res.headers.get('location'), `/v1/oauth-clients/${res.body.client_id}`);
  assert.deepEqual(res.body.scopes, ['write']);
  assert.equal(res.body.name, 'billing');
  assert.equal(res.body.last_used_at, null);
  server.secrets.push(res.body.client_secret);

  const stored = await server.server.runtime.store.oauthClients.findById(res.body.client_id);
  assert.ok(stored);
  assert.notEqual(stored.secretHash, res.body.client_secret);
  assert.equal(stored.secretHash, createHash('sha256').update(res.body.client_secret).digest('hex'));

  const list = await admin.get('/v1/oauth-clients');
  assert.equal(list.status, 200);
  const listed = list.body.data.find((c: { client_id: string }) => c.client_id === res.body.client_id);
  assert.deepEqual(Object.keys(listed).sort(), ['client_id', 'created_at', 'last_used_at', 'name', 'scopes']);
  assert.ok(!list.text.includes(res.body.client_secret));

  const token = await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: basic(res.body.client_id, res.body.client_secret) });
  assert.equal(token.status, 200);
  const lastUsed = async () => (await admin.get('/v1/oauth-clients')).body.data.find((c: { client_id: string }) => c.client_id === res.body.client_id).last_used_at;
  await eventually(async () => typeof (await lastUsed()) === 'string', 'last_used_at recorded');
  assert.match(await lastUsed(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

it('revokes a client: gone from the list, 404 the second time', async () => {
  const created = (await admin.post('/v1/oauth-clients', { body: { name: 'temp', scopes: ['read'] } })).body;
  server.secrets.push(created.client_secret);
  assert.equal((await admin.delete(`/v1/oauth-clients/${created.client_id}`)).status, 204);
  assert.ok(!(await admin.get('/v1/oauth-clients')).body.data.some((c: { client_id: string }) => c.client_id === created.client_id));
  const again = await admin.delete(`/v1/oauth-clients/${created.client_id}`);
  assert.equal(again.status, 404);
  assert.deepEqual(again.body, { error: 'not_found', message: 'OAuth client not found' });
});

it('validates the body with the seed’s error shape', async () => {
  const res = await admin.post('/v1/oauth-clients', { body: { name: '', scopes: ['root'], extra: 1 } });
  assert.equal(res.status, 400);
  assert.equal(res.body.error, 'validation_error');
  assert.deepEqual(Object.keys(res.body.details).sort(), ['extra', 'name', 'scopes']);
  const none = await admin.post('/v1/oauth-clients', { body: { name: 'x', scopes: [] } });
  assert.equal(none.status, 400);
  assert.ok(none.body.details.scopes);
});

it('requires the admin scope', async () => {
  assert.equal((await clientFor(server.url).get('/v1/oauth-clients')).status, 401);
  const writer = server.client(await server.mintKey(['write']));
  const res = await writer.post('/v1/oauth-clients', { body: { name: 'x', scopes: ['read'] } });
  assert.equal(res.status, 403);
  assert.equal(res.body.error, 'insufficient_scope');
  assert.equal((await writer.delete('/v1/oauth-clients/cli_000000000000')).status, 403);
});

it('documents every new endpoint in the OpenAPI document', async () => {
  const doc = (await server.client().get('/openapi.json')).body;
  const ops = [
    ['/v1/oauth-clients', 'post'],
    ['/v1/oauth-clients', 'get'],
    ['/v1/oauth-clients/{id}', 'delete'],
    ['/oauth/token', 'post'],
    ['/.well-known/oauth-authorization-server', 'get'],
    ['/.well-known/jwks.json', 'get'],
  ];
  for (const [path, method] of ops) {
    const op = doc.paths[path]?.[method];
    assert.ok(op, `${method} ${path}`);
    assert.ok(op.operationId && op.summary && op.description, `${method} ${path} is described`);
  }
  assert.ok(doc.paths['/oauth/token'].post.requestBody.content['application/x-www-form-urlencoded']);
  assert.ok(doc.components.securitySchemes.clientBasic);
});
