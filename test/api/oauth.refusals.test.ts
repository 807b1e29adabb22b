import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { type CryptoKey, type JWK, SignJWT, UnsecuredJWT, decodeProtectedHeader, exportSPKI, generateKeyPair, importJWK } from 'jose';
import { openRuntime } from '../../src/compose.js';
import { type Client, clientFor, uniqueUser } from '../helpers/client.js';
import { createClient, eventually, startOAuthServer, tokenWithLibrary } from '../helpers/oauth.js';
import type { TestServer } from '../helpers/server.js';

let server: TestServer;
let admin: Client;
let userId: string;
let clientId: string;
let goodToken: string;
let kid: string;
let ourKey: CryptoKey;

before(async () => {
  server = await startOAuthServer({ config: { authFailuresPerMinute: 100_000 } });
  admin = server.client(await server.mintKey(['admin']));
  userId = (await admin.post('/v1/users', { body: uniqueUser() })).body.id;
  const client = await createClient(server, ['write']);
  clientId = client.client_id;
  goodToken = await tokenWithLibrary(server, client.client_id, client.client_secret, 'basic');
  kid = decodeProtectedHeader(goodToken).kid!;
  // The real private key, as only the server holds it: to forge tokens that differ from a good
  // one in a single claim, so that each refusal is for that claim alone.
  const stored = (await server.server.runtime.store.signingKeys.list()).find((k) => k.id === kid)!;
  ourKey = (await importJWK(stored.privateJwk as JWK, 'ES256')) as CryptoKey;
});
after(() => server.stop());

function claims(overrides: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return { iss: server.config.publicUrl, aud: server.config.publicUrl, sub: clientId, client_id: clientId, scope: 'write', jti: `j${now}${Math.random()}`, iat: now, exp: now + 300, ...overrides };
}

async function sign(key: CryptoKey | Uint8Array, alg: string, header: Record<string, unknown> = {}, overrides: Record<string, unknown> = {}) {
  return new SignJWT(claims(overrides)).setProtectedHeader({ alg, typ: 'at+jwt', kid, ...header }).sign(key);
}

async function assertRefused(token: string, why: string) {
  const res = await clientFor(server.url, token).patch(`/v1/users/${userId}`, { body: { first_name: 'Mallory' } });
  assert.equal(res.status, 401, `${why}: ${res.text}`);
  assert.equal(res.body.error, 'unauthorized', why);
  assert.equal(typeof res.body.message, 'string');
  assert.match(res.headers.get('www-authenticate')!, /^Bearer .*error="invalid_token"/, why);
}

it('accepts a token forged with the real key and good claims (the control of every refusal below)', async () => {
  const res = await clientFor(server.url, await sign(ourKey, 'ES256')).patch(`/v1/users/${userId}`, { body: { first_name: 'Good' } });
  assert.equal(res.status, 200, res.text);
});

it('refuses alg none', async () => {
  const token = new UnsecuredJWT(claims()).encode();
  await assertRefused(token, 'alg none');
  // Also with the typ and kid a real one has, and a signature part left in place.
  const [, payload] = goodToken.split('.');
  const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid })).toString('base64url');
  await assertRefused(`${header}.${payload}.`, 'alg none with our kid');
});

it('refuses HS256 signed with the public key (algorithm confusion)', async () => {
  const jwks = (await server.client().get('/.well-known/jwks.json')).body;
  const publicJwk = jwks.keys.find((k: JWK) => k.kid === kid);
  const pem = await exportSPKI((await importJWK(publicJwk, 'ES256', { extractable: true })) as CryptoKey);
  await assertRefused(await sign(new TextEncoder().encode(pem), 'HS256'), 'HS256 with the PEM');
  await assertRefused(await sign(new TextEncoder().encode(JSON.stringify(publicJwk)), 'HS256'), 'HS256 with the JWK');
});

it('refuses an algorithm outside the allow-list, even with our kid', async () => {
  const es384 = await generateKeyPair('ES384');
  await assertRefused(await sign(es384.privateKey, 'ES384'), 'ES384');
  const rsa = await generateKeyPair('RS256');
  await assertRefused(await sign(rsa.privateKey, 'RS256'), 'RS256');
});

it('refuses an unknown kid, and a missing one', async () => {
  const other = await generateKeyPair('ES256');
  await assertRefused(await sign(other.privateKey, 'ES256', { kid: 'not-a-key-of-ours' }), 'unknown kid');
  await assertRefused(await sign(other.privateKey, 'ES256'), 'our kid, another key');
  await assertRefused(await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(ourKey), 'no kid');
});

it('refuses a tampered payload', async () => {
  const [header, payload, signature] = goodToken.split('.');
  const body = JSON.parse(Buffer.from(payload, 'base64url').toString());
  const tampered = Buffer.from(JSON.stringify({ ...body, scope: 'admin' })).toString('base64url');
  await assertRefused(`${header}.${tampered}.${signature}`, 'scope raised');
  const res = await clientFor(server.url, goodToken).patch(`/v1/users/${userId}`, { body: { first_name: 'Still' } });
  assert.equal(res.status, 200, 'the untampered token still works');
});

it('refuses a wrong iss, aud or typ, even signed with our key', async () => {
  await assertRefused(await sign(ourKey, 'ES256', {}, { iss: 'https://evil.example' }), 'wrong iss');
  await assertRefused(await sign(ourKey, 'ES256', {}, { aud: 'https://other-api.example' }), 'wrong aud');
  await assertRefused(await sign(ourKey, 'ES256', { typ: 'JWT' }), 'not an access token (typ)');
  await assertRefused(await sign(ourKey, 'ES256', {}, { sub: 'cli_000000000000' }), 'sub is not the client');
  await assertRefused(await sign(ourKey, 'ES256', {}, { client_id: 'cli_000000000000', sub: 'cli_000000000000' }), 'unknown client');
});

it('refuses an expired or not yet valid token', async () => {
  const now = Math.floor(Date.now() / 1000);
  await assertRefused(await sign(ourKey, 'ES256', {}, { iat: now - 600, exp: now - 300 }), 'expired');
  await assertRefused(await sign(ourKey, 'ES256', {}, { nbf: now + 300 }), 'not yet valid');
});

it('answers 403 insufficient_scope for a valid token without the scope', async () => {
  const res = await clientFor(server.url, await sign(ourKey, 'ES256', {}, { scope: 'read' })).patch(`/v1/users/${userId}`, { body: { first_name: 'X' } });
  assert.equal(res.status, 403);
  assert.equal(res.body.error, 'insufficient_scope');
  assert.match(res.body.message, /'write'/);
  assert.match(res.headers.get('www-authenticate')!, /error="insufficient_scope"/);
});

it('never grants more than the client holds, whatever the token says', async () => {
  const res = await clientFor(server.url, await sign(ourKey, 'ES256', {}, { scope: 'admin' })).get('/v1/api-keys');
  assert.equal(res.status, 403);
});

it('refuses tokens of a client revoked by another instance, within seconds', async () => {
  const client = await createClient(server, ['read']);
  const token = await tokenWithLibrary(server, client.client_id, client.client_secret, 'post');
  const api = clientFor(server.url, token);
  assert.equal((await api.get(`/v1/users/${userId}`)).status, 200);
  // A second runtime on the same database, as another instance or the CLI is.
  const other = await openRuntime(server.config);
  try {
    await other.services.oauthClients.revoke(client.client_id);
  } finally {
    await other.close();
  }
  await eventually(async () => (await api.get(`/v1/users/${userId}`)).status === 401, 'revocation seen by the server');
});

it('refuses a built-in token once its signing key is removed (by another instance too)', async () => {
  const client = await createClient(server, ['read']);
  const token = await tokenWithLibrary(server, client.client_id, client.client_secret, 'basic');
  const api = clientFor(server.url, token);
  assert.equal((await api.get(`/v1/users/${userId}`)).status, 200);
  const removed = decodeProtectedHeader(token).kid!;
  const other = await openRuntime(server.config);
  try {
    await other.services.signingKeys.remove(removed);
  } finally {
    await other.close();
  }
  await eventually(async () => (await api.get(`/v1/users/${userId}`)).status === 401, 'key removal seen by the server');
  await assertRefused(token, 'key removed');
  const jwks = (await server.client().get('/.well-known/jwks.json')).body;
  assert.ok(!jwks.keys.some((k: JWK) => k.kid === removed), 'no longer published');
  assert.ok(jwks.keys.length >= 1, 'a new key took its place');
  // New tokens are signed with the new key and work.
  const fresh = await tokenWithLibrary(server, client.client_id, client.client_secret, 'basic');
  assert.notEqual(decodeProtectedHeader(fresh).kid, removed);
  assert.equal((await clientFor(server.url, fresh).get(`/v1/users/${userId}`)).status, 200);
});
