import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import { type JWK, decodeProtectedHeader } from 'jose';
import { clientFor, uniqueUser } from '../helpers/client.js';
import { createClient, eventually, startOAuthServer, tokenWithLibrary } from '../helpers/oauth.js';
import type { TestServer } from '../helpers/server.js';

const run = promisify(execFile);

let server: TestServer;

/** The real `roster` binary (the build), against the running server's database. */
async function roster(...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/roster.js', ...args, '--database-url', server.databaseUrl], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

before(async () => {
  server = await startOAuthServer();
});
after(() => server.stop());

// Each start of the binary costs seconds on a loaded machine: independent commands run together.
it('creates, lists and revokes clients, rotates the signing key, and refuses bad usage', async () => {
  const existing = await createClient(server, ['read']);
  const before = await tokenWithLibrary(server, existing.client_id, existing.client_secret, 'post');

  const [created, second, rotated, noScopes, unknown] = await Promise.all([
    roster('clients', 'create', '--name', 'cron job', '--scopes', 'read,write', '--json'),
    roster('clients', 'create', '--name', 'second', '--scopes', 'admin', '--json'),
    roster('signing-keys', 'rotate', '--json'),
    roster('clients', 'create', '--name', 'x', '--scopes', 'read,root'),
    roster('clients', 'revoke', 'cli_000000000000'),
  ]);

  assert.equal(noScopes.code, 2);
  assert.match(noScopes.stderr, /--scopes: unknown scope "root"/);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /OAuth client not found/);

  assert.equal(created.code, 0, created.stderr);
  const client = JSON.parse(created.stdout);
  assert.match(client.client_id, /^cli_[a-z0-9]{12}$/);
  assert.match(client.client_secret, /^rcs_/);
  assert.deepEqual(client.scopes, ['read', 'write']);
  server.secrets.push(client.client_secret);
  const token = await tokenWithLibrary(server, client.client_id, client.client_secret, 'basic');
  const api = clientFor(server.url, token);
  const user = await api.post('/v1/users', { body: uniqueUser() });
  assert.equal(user.status, 201, user.text);

  // Rotation by another process: the new key is published and used; the old token still works.
  assert.equal(rotated.code, 0, rotated.stderr);
  const key = JSON.parse(rotated.stdout);
  assert.equal(key.status, 'current');
  const jwks = async () => (await server.client().get('/.well-known/jwks.json')).body.keys.map((k: JWK) => k.kid);
  await eventually(async () => (await jwks()).includes(key.kid), 'the new key published');
  assert.ok((await jwks()).includes(decodeProtectedHeader(before).kid));
  await eventually(async () => decodeProtectedHeader(await tokenWithLibrary(server, client.client_id, client.client_secret, 'post')).kid === key.kid, 'tokens signed by the new key');
  assert.equal((await clientFor(server.url, before).get(`/v1/users/${user.body.id}`)).status, 200, 'the old token still works');

  // Listing runs alongside the revocation of the first client, so it looks for the second one.
  assert.equal(second.code, 0, second.stderr);
  const other = JSON.parse(second.stdout);
  server.secrets.push(other.client_secret);
  const [listed, revoked] = await Promise.all([roster('clients', 'list', '--json'), roster('clients', 'revoke', client.client_id)]);
  assert.equal(listed.code, 0, listed.stderr);
  const entry = JSON.parse(listed.stdout).data.find((c: { client_id: string }) => c.client_id === other.client_id);
  assert.deepEqual(entry, { client_id: other.client_id, name: 'second', scopes: ['admin'], created_at: other.created_at, last_used_at: null });
  assert.ok(!listed.stdout.includes(other.client_secret));

  assert.equal(revoked.code, 0, revoked.stderr);
  // Another process revoked it: the server sees it within its cache time, polled here.
  await eventually(async () => (await api.get(`/v1/users/${user.body.id}`)).status === 401, 'revocation by the CLI seen by the server');
});
