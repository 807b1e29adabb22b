import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, it } from 'node:test';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { describeEachBackend } from '../helpers/backends.js';
import { type Client, clientFor, uniqueUser } from '../helpers/client.js';
import { basic, createClient, startOAuthServer, tokenRequest, tokenWithLibrary } from '../helpers/oauth.js';
import type { TestServer } from '../helpers/server.js';

function assertNoStore(res: { headers: Headers }) {
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('pragma'), 'no-cache');
}

await describeEachBackend('POST /oauth/token (client credentials) and the seed’s PATCH with its token', (backend) => {
  let server: TestServer;
  let admin: Client;

  before(async () => {
    server = await startOAuthServer({ backend });
    admin = server.client(await server.mintKey(['admin']));
  });
  after(() => server.stop());

  async function createUser() {
    const res = await admin.post('/v1/users', { body: { ...uniqueUser(), first_name: 'John' } });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  it('publishes RFC 8414 metadata and a JWKS that oauth4webapi accepts', async () => {
    const meta = await server.client().get('/.well-known/oauth-authorization-server');
    assert.equal(meta.status, 200);
    assert.equal(meta.body.issuer, server.config.publicUrl);
    assert.equal(meta.body.token_endpoint, `${server.config.publicUrl}/oauth/token`);
    assert.equal(meta.body.jwks_uri, `${server.config.publicUrl}/.well-known/jwks.json`);
    assert.deepEqual(meta.body.grant_types_supported, ['client_credentials']);
    assert.deepEqual(meta.body.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post']);
    assert.deepEqual(meta.body.scopes_supported, ['read', 'write', 'admin']);
  });

  it('issues an RFC 9068 token by HTTP Basic through oauth4webapi, and the seed’s PATCH accepts it', async () => {
    const client = await createClient(server, ['write']);
    const token = await tokenWithLibrary(server, client.client_id, client.client_secret, 'basic');
    const header = decodeProtectedHeader(token);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, 'ES256');
    const claims = decodeJwt(token);
    assert.equal(claims.iss, server.config.publicUrl);
    assert.equal(claims.aud, server.config.publicUrl);
    assert.equal(claims.sub, client.client_id);
    assert.equal(claims.client_id, client.client_id);
    assert.equal(claims.scope, 'write');
    assert.equal(typeof claims.jti, 'string');
    assert.equal(claims.exp! - claims.iat!, server.config.accessTokenTtlSeconds);
    // The signature verifies against the published JWKS, by anyone.
    const jwks = (await server.client().get('/.well-known/jwks.json')).body;
    assert.ok(jwks.keys.some((k: { kid: string }) => k.kid === header.kid));
    for (const k of jwks.keys) assert.equal(k.d, undefined, 'no private part is published');
    await jwtVerify(token, createLocalJWKSet(jwks), { issuer: server.config.publicUrl, audience: server.config.publicUrl, typ: 'at+jwt' });

    const user = await createUser();
    const res = await clientFor(server.url, token).patch(`/v1/users/${user.id}`, { body: { first_name: 'Jane', last_name: 'Smith' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.first_name, 'Jane');
    assert.ok(res.headers.get('x-ratelimit-limit'));
    const events = await server.server.runtime.store.events.listForUser(user.id);
    const updated = events.find((e) => e.type === 'user.updated');
    assert.ok(updated, 'the change is recorded');
    assert.equal(updated.actorKind, 'oauth_client');
    assert.equal(updated.actorId, client.client_id);
    const line = server.logs.find((l) => l.route === '/v1/users/:user_id' && l.method === 'PATCH' && l.credential === client.client_id);
    assert.ok(line, 'the access log names the client');
  });

  it('issues a token by client_secret_post through oauth4webapi', async () => {
    const client = await createClient(server, ['write']);
    const token = await tokenWithLibrary(server, client.client_id, client.client_secret, 'post');
    const user = await createUser();
    const res = await clientFor(server.url, token).patch(`/v1/users/${user.id}`, { body: { last_name: 'Post' } });
    assert.equal(res.status, 200, res.text);
  });

  it('answers RFC 6749 §5.1 with no-store, and decodes form-urlencoded Basic credentials', async () => {
    const client = await createClient(server, ['read', 'write']);
    // Every character percent-encoded: legal per RFC 6749 §2.3.1, and must decode to the same secret.
    const encodeAll = (s: string) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
    const header = `Basic ${Buffer.from(`${encodeAll(client.client_id)}:${encodeAll(client.client_secret)}`).toString('base64')}`;
    const res = await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: header });
    assert.equal(res.status, 200, res.text);
    assertNoStore(res);
    assert.deepEqual(Object.keys(res.body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    assert.equal(res.body.token_type, 'Bearer');
    assert.equal(res.body.expires_in, server.config.accessTokenTtlSeconds);
    assert.equal(res.body.scope, 'read write');
  });

  it('narrows scope on request, and the narrowed token is refused where it lacks the scope', async () => {
    const client = await createClient(server, ['write']);
    const token = await tokenWithLibrary(server, client.client_id, client.client_secret, 'basic', 'read');
    assert.equal(decodeJwt(token).scope, 'read');
    const user = await createUser();
    const api = clientFor(server.url, token);
    assert.equal((await api.get(`/v1/users/${user.id}`)).status, 200);
    const res = await api.patch(`/v1/users/${user.id}`, { body: { first_name: 'X' } });
    assert.equal(res.status, 403);
    assert.equal(res.body.error, 'insufficient_scope');
    assert.match(res.headers.get('www-authenticate')!, /error="insufficient_scope"/);
  });

  it('never widens scope: invalid_scope', async () => {
    const client = await createClient(server, ['read']);
    const auth = { authorization: basic(client.client_id, client.client_secret) };
    for (const scope of ['write', 'admin', 'read write', 'read nope', '']) {
      const res = await tokenRequest(server, { grant_type: 'client_credentials', scope }, auth);
      assert.equal(res.status, 400, scope);
      assert.equal(res.body.error, 'invalid_scope', scope);
      assert.equal(typeof res.body.error_description, 'string');
      assertNoStore(res);
    }
  });

  it('keeps error_description within RFC 6749 §5.2\'s characters, whatever the request held', async () => {
    const client = await createClient(server, ['read']);
    const auth = { authorization: basic(client.client_id, client.client_secret) };
    const answers = [
      ...(await Promise.all(['admin', 'a"b\\c', 'read\twrite', 'r\u00e9ad'].map((scope) => tokenRequest(server, { grant_type: 'client_credentials', scope }, auth)))),
      await tokenRequest(server, `grant_type=client_credentials&${encodeURIComponent('x"\u00e9')}=1&${encodeURIComponent('x"\u00e9')}=2`, auth),
    ];
    for (const res of answers) {
      assert.equal(res.status, 400, res.text);
      assert.match(res.body.error_description, /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/, res.body.error_description);
    }
    assert.equal(answers[0].body.error_description, "Scope 'admin' is not granted to this client");
  });

  it('refuses bad client authentication with invalid_client, 401 and a Basic challenge', async () => {
    const client = await createClient(server, ['read']);
    // The secret with its last character changed (to another character whatever it was).
    const wrongSecret = client.client_secret.slice(0, -1) + (client.client_secret.endsWith('A') ? 'B' : 'A');
    const cases: { form: Record<string, string>; headers: Record<string, string> }[] = [
      { form: { grant_type: 'client_credentials' }, headers: { authorization: basic(client.client_id, wrongSecret) } },
      { form: { grant_type: 'client_credentials' }, headers: { authorization: basic('cli_000000000000', client.client_secret) } },
      { form: { grant_type: 'client_credentials', client_id: client.client_id, client_secret: 'rcs_wrong' }, headers: {} },
      { form: { grant_type: 'client_credentials' }, headers: {} },
      { form: { grant_type: 'client_credentials' }, headers: { authorization: 'Bearer abc' } },
    ];
    for (const c of cases) {
      const res = await tokenRequest(server, c.form, c.headers);
      assert.equal(res.status, 401, JSON.stringify(c));
      assert.equal(res.body.error, 'invalid_client');
      assert.match(res.headers.get('www-authenticate')!, /^Basic realm="roster"/);
      assertNoStore(res);
    }
  });

  it('answers invalid_request and unsupported_grant_type per RFC 6749 §5.2', async () => {
    const client = await createClient(server, ['read']);
    const auth = { authorization: basic(client.client_id, client.client_secret) };
    const grant = await tokenRequest(server, { grant_type: 'password', username: 'a', password: 'b' }, auth);
    assert.equal(grant.status, 400);
    assert.equal(grant.body.error, 'unsupported_grant_type');
    const missing = await tokenRequest(server, { scope: 'read' }, auth);
    assert.equal(missing.body.error, 'invalid_request');
    assert.match(missing.body.error_description, /grant_type/);
    const repeated = await tokenRequest(server, 'grant_type=client_credentials&scope=read&scope=write', auth);
    assert.equal(repeated.status, 400);
    assert.equal(repeated.body.error, 'invalid_request');
    const both = await tokenRequest(server, { grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret }, auth);
    assert.equal(both.status, 400);
    assert.equal(both.body.error, 'invalid_request');
    const otherId = await tokenRequest(server, { grant_type: 'client_credentials', client_id: 'cli_000000000000' }, auth);
    assert.equal(otherId.status, 400, 'another client named in the body');
    assert.equal(otherId.body.error, 'invalid_request');
    const named = await tokenRequest(server, { grant_type: 'client_credentials', client_id: client.client_id }, auth);
    assert.equal(named.status, 200, 'RFC 6749 §3.2.1: client_id may name the client that Basic authenticates');
    const json = await fetch(`${server.url}/oauth/token`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials' }) });
    assert.equal(json.status, 400);
    assert.equal(((await json.json()) as { error: string }).error, 'invalid_request');
    const ignored = await tokenRequest(server, { grant_type: 'client_credentials', resource: 'https://x.example' }, auth);
    assert.equal(ignored.status, 200, 'unknown parameters are ignored (RFC 6749 §3.2)');
    // Two Authorization headers (Node would read the first, a proxy perhaps the second).
    const twice = await new Promise<{ status: number; body: { error: string } }>((resolve, reject) => {
      const req = httpRequest(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: ['Host', new URL(server.url).host, 'Authorization', auth.authorization, 'Authorization', basic('cli_000000000000', 'rcs_other'), 'Content-Type', 'application/x-www-form-urlencoded'],
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end('grant_type=client_credentials');
    });
    assert.deepEqual([twice.status, twice.body], [400, { error: 'invalid_request', error_description: 'Send one Authorization header, not several' }]);
    const encoded = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip' },
      body: 'grant_type=client_credentials',
    });
    assert.equal(encoded.status, 400, 'a body declared encoded is refused, not read as plain text');
    assert.equal(((await encoded.json()) as { error: string }).error, 'invalid_request');
    for (const res of [grant, missing, repeated, both]) assertNoStore(res);
  });

  it('answers a NUL character in a parameter, escaped or raw, with invalid_request, never a 5xx', async () => {
    const client = await createClient(server, ['read']);
    const auth = { authorization: basic(client.client_id, client.client_secret) };
    // Refused by the guard every route shares (no store keeps NUL faithfully), which speaks the
    // API's error format: here it must be RFC 6749's, with a 400.
    for (const body of ['grant_type=client_credentials&scope=re%00ad', 'grant_type=client_credentials&x%00=1', 'grant_type=client_credentials\u0000&scope=read']) {
      const res = await tokenRequest(server, body, auth);
      assert.equal(res.status, 400, body);
      assert.equal(res.body.error, 'invalid_request', body);
      assert.match(res.body.error_description, /^Invalid token request: /, body);
      assertNoStore(res);
    }
  });

  it('refuses a revoked client at the token endpoint, and its tokens at once', async () => {
    const client = await createClient(server, ['write']);
    const token = await tokenWithLibrary(server, client.client_id, client.client_secret, 'post');
    const user = await createUser();
    const api = clientFor(server.url, token);
    assert.equal((await api.get(`/v1/users/${user.id}`)).status, 200);
    assert.equal((await admin.delete(`/v1/oauth-clients/${client.client_id}`)).status, 204);
    const res = await api.get(`/v1/users/${user.id}`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate')!, /error="invalid_token"/);
    const again = await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: basic(client.client_id, client.client_secret) });
    assert.equal(again.status, 401);
    assert.equal(again.body.error, 'invalid_client');
  });

  it('writes no secret or token to the log', () => {
    const text = JSON.stringify(server.logs);
    assert.ok(server.secrets.length > 5);
    for (const secret of server.secrets) assert.ok(!text.includes(secret), 'a secret leaked to the log');
  });
});
