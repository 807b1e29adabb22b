import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { type JWK, decodeJwt, decodeProtectedHeader } from 'jose';
import { type Client, clientFor, uniqueUser } from '../helpers/client.js';
import { createClient, eventually, startOAuthServer, tokenWithLibrary } from '../helpers/oauth.js';
import type { TestServer } from '../helpers/server.js';

// A token lifetime far below ACCESS_TOKEN_TTL_SECONDS's minimum of 30, set directly in the
// config object (no environment parsing), so that expiry is seen in seconds.
const TTL = 3;

let server: TestServer;
let admin: Client;
let userId: string;

before(async () => {
  server = await startOAuthServer({ config: { accessTokenTtlSeconds: TTL, authFailuresPerMinute: 100_000 } });
  admin = server.client(await server.mintKey(['admin']));
  userId = (await admin.post('/v1/users', { body: uniqueUser() })).body.id;
});
after(() => server.stop());

const kids = async () => (await server.client().get('/.well-known/jwks.json')).body.keys.map((k: JWK) => k.kid) as string[];

it('makes one first key, however many first token requests arrive at once', async () => {
  assert.deepEqual(await kids(), [], 'no key before the first token');
  const client = await createClient(server, ['read']);
  const tokens = await Promise.all(Array.from({ length: 6 }, () => tokenWithLibrary(server, client.client_id, client.client_secret, 'post')));
  assert.equal(new Set(tokens.map((t) => decodeProtectedHeader(t).kid)).size, 1);
  assert.equal((await kids()).length, 1);
});

it('rotates keys without invalidating tokens still valid, then refuses them once expired', async () => {
  const client = await createClient(server, ['read']);
  const old = await tokenWithLibrary(server, client.client_id, client.client_secret, 'basic');
  const oldKid = decodeProtectedHeader(old).kid!;
  const rotated = await server.server.runtime.services.signingKeys.rotate();
  assert.notEqual(rotated.kid, oldKid);
  assert.deepEqual((await kids()).sort(), [oldKid, rotated.kid].sort(), 'both keys are published');

  // The old token is still accepted: its key stays published while it may be valid.
  assert.equal((await clientFor(server.url, old).get(`/v1/users/${userId}`)).status, 200);
  const fresh = await tokenWithLibrary(server, client.client_id, client.client_secret, 'basic');
  assert.equal(decodeProtectedHeader(fresh).kid, rotated.kid, 'new tokens use the new key');

  // The retired key is published until its last possible token expires, plus a margin.
  const listed = await server.server.runtime.services.signingKeys.list();
  const retired = listed.find((k) => k.kid === oldKid)!;
  assert.equal(retired.status, 'retired');
  assert.ok(retired.publish_until! >= new Date((decodeJwt(old).exp! + 0) * 1000).toISOString().replace('.000Z', 'Z'));
  // The rotating process (a command, here with a 3 s TTL) cannot know the servers' TTL: the
  // retired key stays for the longest any server may use, 24 hours, and a minute.
  assert.ok(Date.parse(retired.publish_until!) >= Date.now() + (86_400 + 60 - 5) * 1000, retired.publish_until!);
  assert.deepEqual(await server.server.runtime.services.signingKeys.prune(), [], 'nothing to prune while tokens may be valid');

  // Once expired, the old token is refused though its key is still published.
  await eventually(async () => (await clientFor(server.url, old).get(`/v1/users/${userId}`)).status === 401, 'the old token expires');
  assert.ok(decodeJwt(old).exp! <= Math.floor(Date.now() / 1000), 'refused because it expired');
  assert.ok((await kids()).includes(oldKid));

  // Pruning at the end of its publication removes the retired key and keeps the current one.
  const pruned = await server.server.runtime.store.signingKeys.prune(retired.publish_until!);
  assert.deepEqual(pruned, [oldKid]);
  await eventually(async () => !(await kids()).includes(oldKid), 'the pruned key is no longer published');
  assert.deepEqual(await kids(), [rotated.kid]);
});
