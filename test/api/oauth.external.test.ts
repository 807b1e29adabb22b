import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type CryptoKey, UnsecuredJWT, exportSPKI, generateKeyPair, importJWK } from 'jose';
import { CLOCK_TOLERANCE_SECONDS } from '../../src/services/external-tokens.js';
import { type Client, clientFor, uniqueUser } from '../helpers/client.js';
import { startFakeIssuer } from '../helpers/fake-issuer.js';
import { createClient, eventually, startOAuthServer, tokenWithLibrary } from '../helpers/oauth.js';
import type { TestServer } from '../helpers/server.js';

const AUDIENCE = 'https://roster.example/api';

async function assertRefused(server: TestServer, userId: string, token: string, why: string) {
  const res = await clientFor(server.url, token).get(`/v1/users/${userId}`);
  assert.equal(res.status, 401, `${why}: ${res.text}`);
  assert.equal(res.body.error, 'unauthorized');
  assert.match(res.headers.get('www-authenticate')!, /error="invalid_token"/, why);
}

describe('tokens of an external issuer (discovered by OpenID metadata), alongside built-in ones', () => {
  let issuer: Awaited<ReturnType<typeof startFakeIssuer>>;
  let server: TestServer;
  let admin: Client;
  let userId: string;

  before(async () => {
    issuer = await startFakeIssuer();
    // A short cooldown lets the rotation below be seen without waiting a minute.
    server = await startOAuthServer({
      config: { oauthIssuer: issuer.issuer, oauthAudience: AUDIENCE, oauthJwksUrl: null, oauthJwksCooldownSeconds: 1, authFailuresPerMinute: 100_000 },
    });
    admin = server.client(await server.mintKey(['admin']));
    userId = (await admin.post('/v1/users', { body: uniqueUser() })).body.id;
  });
  after(async () => {
    await server.stop();
    await issuer.close();
  });

  it('accepts its token for the seed’s PATCH, with scopes from `scope`, and records its client as the actor', async () => {
    const token = await issuer.sign({ aud: AUDIENCE, sub: 'machine-1', client_id: 'ext-client-1', scope: 'openid write' });
    const res = await clientFor(server.url, token).patch(`/v1/users/${userId}`, { body: { first_name: 'External' } });
    assert.equal(res.status, 200, res.text);
    const events = await server.server.runtime.store.events.listForUser(userId);
    const updated = events.find((e) => e.type === 'user.updated' && e.actorId === 'ext-client-1');
    assert.ok(updated);
    assert.equal(updated.actorKind, 'oauth_client');
    assert.ok(server.logs.some((l) => l.credential === 'ext-client-1'), 'the access log names the client');
  });

  it('reads scopes from `scp` as an array (Okta) or a string (Entra ID), and answers 403 without the scope', async () => {
    const asArray = await issuer.sign({ aud: AUDIENCE, sub: 's', azp: 'ext-azp', scp: ['read', 'write'] });
    assert.equal((await clientFor(server.url, asArray).patch(`/v1/users/${userId}`, { body: { last_name: 'Scp' } })).status, 200);
    const asString = await issuer.sign({ aud: AUDIENCE, sub: 's', scp: 'read' });
    const api = clientFor(server.url, asString);
    assert.equal((await api.get(`/v1/users/${userId}`)).status, 200);
    const denied = await api.patch(`/v1/users/${userId}`, { body: { last_name: 'No' } });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error, 'insufficient_scope');
    assert.match(denied.headers.get('www-authenticate')!, /error="insufficient_scope"/);
  });

  it('accepts the audience in an array, and the issuer with a trailing slash (as Auth0 writes it)', async () => {
    const token = await issuer.sign({ aud: ['https://other.example', AUDIENCE], iss: `${issuer.issuer}/`, sub: 's', scope: 'read' });
    assert.equal((await clientFor(server.url, token).get(`/v1/users/${userId}`)).status, 200);
  });

  it('refuses a wrong iss or aud, expired or not-yet-valid tokens beyond a small tolerance', async () => {
    const now = Math.floor(Date.now() / 1000);
    await assertRefused(server, userId, await issuer.sign({ aud: AUDIENCE, sub: 's', scope: 'read', iss: 'https://evil.example' }), 'wrong iss');
    await assertRefused(server, userId, await issuer.sign({ aud: 'https://other.example', sub: 's', scope: 'read' }), 'wrong aud');
    await assertRefused(server, userId, await issuer.sign({ sub: 's', scope: 'read' }), 'no aud');
    await assertRefused(server, userId, await issuer.sign({ aud: AUDIENCE, sub: 's', scope: 'read', iat: now - 900, exp: now - 120 }), 'expired');
    await assertRefused(server, userId, await issuer.sign({ aud: AUDIENCE, sub: 's', scope: 'read', nbf: now + 120 }), 'not yet valid');
    // Within the tolerance, a small clock difference is forgiven.
    const skew = Math.floor(CLOCK_TOLERANCE_SECONDS / 3);
    const slightly = await issuer.sign({ aud: AUDIENCE, sub: 's', scope: 'read', iat: now - 300, exp: now - skew, nbf: now + skew });
    assert.equal((await clientFor(server.url, slightly).get(`/v1/users/${userId}`)).status, 200);
  });

  it('refuses alg none, HS256 with its public key, an unknown kid and a tampered payload', async () => {
    const claims = { iss: issuer.issuer, aud: AUDIENCE, sub: 's', scope: 'admin', exp: Math.floor(Date.now() / 1000) + 300 };
    await assertRefused(server, userId, new UnsecuredJWT(claims).encode(), 'alg none');
    const pem = await exportSPKI((await importJWK(issuer.publicJwk(), 'RS256', { extractable: true })) as CryptoKey);
    await assertRefused(server, userId, await issuer.sign(claims, { alg: 'HS256', key: new TextEncoder().encode(pem) as never }), 'HS256 with the public key');
    const stranger = await generateKeyPair('RS256');
    await assertRefused(server, userId, await issuer.sign(claims, { key: stranger.privateKey, header: { kid: 'unknown-kid' } }), 'unknown kid');
    await assertRefused(server, userId, await issuer.sign(claims, { key: stranger.privateKey }), 'known kid, another key');
    const good = await issuer.sign({ aud: AUDIENCE, sub: 's', scope: 'read' });
    const [h, p, s] = good.split('.');
    const tampered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), scope: 'admin' })).toString('base64url');
    await assertRefused(server, userId, `${h}.${tampered}.${s}`, 'tampered');
  });

  it('follows a key rotation on the issuer’s side: the new key is fetched, the dropped one refused', async () => {
    const before = await issuer.sign({ aud: AUDIENCE, sub: 's', scope: 'read' });
    assert.equal((await clientFor(server.url, before).get(`/v1/users/${userId}`)).status, 200);
    await issuer.rotate(false);
    const after = await issuer.sign({ aud: AUDIENCE, sub: 's', scope: 'read' });
    // An unknown kid refetches the JWKS once the cooldown (1 s here) has passed.
    await eventually(async () => (await clientFor(server.url, after).get(`/v1/users/${userId}`)).status === 200, 'the new key accepted');
    await assertRefused(server, userId, before, 'signed by the dropped key');
  });

  it('keeps its clients apart from Roster\'s own credentials of the same id: rate budget and kept responses', async () => {
    const secret = await server.mintKey(['write']);
    const keyId = `key_${secret.split('_')[1]}`;
    const local = clientFor(server.url, secret);
    const external = clientFor(server.url, await issuer.sign({ aud: AUDIENCE, sub: 's', client_id: keyId, scope: 'write' }));

    const body = uniqueUser();
    const headers = { 'idempotency-key': `same-${Math.random()}` };
    const created = await local.post('/v1/users', { body, headers });
    assert.equal(created.status, 201, created.text);
    await local.get(`/v1/users/${userId}`);
    const localRemaining = Number((await local.get(`/v1/users/${userId}`)).headers.get('x-ratelimit-remaining'));

    const first = await external.get(`/v1/users/${userId}`);
    assert.equal(first.status, 200, first.text);
    assert.equal(Number(first.headers.get('x-ratelimit-remaining')), Number(first.headers.get('x-ratelimit-limit')) - 1, 'a budget of its own');
    assert.ok(Number(first.headers.get('x-ratelimit-remaining')) > localRemaining);

    // The same key and body: not the local key's kept 201, but a request of its own (the email is taken by then).
    const retried = await external.post('/v1/users', { body, headers });
    assert.equal(retried.headers.get('idempotent-replayed'), null);
    assert.equal(retried.status, 409, retried.text);
  });

  it('accepts built-in tokens at the same time', async () => {
    const client = await createClient(server, ['read']);
    const token = await tokenWithLibrary(server, client.client_id, client.client_secret, 'basic');
    assert.equal((await clientFor(server.url, token).get(`/v1/users/${userId}`)).status, 200);
  });
});

describe('an external issuer with RFC 8414 metadata only, and the default cooldown', () => {
  let issuer: Awaited<ReturnType<typeof startFakeIssuer>>;
  let server: TestServer;
  let userId: string;

  before(async () => {
    issuer = await startFakeIssuer({ metadata: 'oauth', alg: 'ES256' });
    server = await startOAuthServer({ config: { oauthIssuer: issuer.issuer, oauthAudience: AUDIENCE, oauthJwksUrl: null, authFailuresPerMinute: 100_000 } });
    userId = (await server.client(await server.mintKey(['admin'])).post('/v1/users', { body: uniqueUser() })).body.id;
  });
  after(async () => {
    await server.stop();
    await issuer.close();
  });

  it('does not refetch the JWKS for every unknown kid: at most once a minute', async () => {
    const good = await issuer.sign({ aud: AUDIENCE, sub: 's', scope: 'read' });
    assert.equal((await clientFor(server.url, good).get(`/v1/users/${userId}`)).status, 200);
    const fetched = issuer.jwksFetches;
    assert.equal(fetched, 1);
    const stranger = await generateKeyPair('ES256');
    for (let i = 0; i < 8; i++) {
      const forged = await issuer.sign({ aud: AUDIENCE, sub: 's', scope: 'read' }, { key: stranger.privateKey, header: { kid: `forged-${i}` } });
      await assertRefused(server, userId, forged, `unknown kid ${i}`);
    }
    assert.ok(issuer.jwksFetches <= fetched + 1, `${issuer.jwksFetches - fetched} refetches for 8 unknown kids`);
    assert.equal((await clientFor(server.url, good).get(`/v1/users/${userId}`)).status, 200, 'good tokens still pass');
  });
});

describe('an external issuer without metadata, given OAUTH_JWKS_URL', () => {
  it('fetches the JWKS from OAUTH_JWKS_URL', async () => {
    const issuer = await startFakeIssuer({ metadata: 'none', alg: 'ES256' });
    const server = await startOAuthServer({ config: { oauthIssuer: issuer.issuer, oauthAudience: AUDIENCE, oauthJwksUrl: `${issuer.issuer}/keys` } });
    try {
      const userId = (await server.client(await server.mintKey(['admin'])).post('/v1/users', { body: uniqueUser() })).body.id;
      const token = await issuer.sign({ aud: AUDIENCE, sub: 's', scope: 'read' });
      assert.equal((await clientFor(server.url, token).get(`/v1/users/${userId}`)).status, 200);
      assert.equal(issuer.jwksFetches, 1);
    } finally {
      await server.stop();
      await issuer.close();
    }
  });
});

describe('an external issuer that cannot be reached', () => {
  it('answers 503 for its tokens, and built-in tokens keep working', async () => {
    const gone = await startFakeIssuer({ alg: 'ES256' });
    const token = await gone.sign({ aud: AUDIENCE, sub: 's', scope: 'read' });
    await gone.close();
    const server = await startOAuthServer({ config: { oauthIssuer: gone.issuer, oauthAudience: AUDIENCE } });
    try {
      const admin = server.client(await server.mintKey(['admin']));
      const userId = (await admin.post('/v1/users', { body: uniqueUser() })).body.id;
      const res = await clientFor(server.url, token).get(`/v1/users/${userId}`);
      assert.equal(res.status, 503, res.text);
      assert.equal(res.body.error, 'service_unavailable');
      assert.ok(res.headers.get('retry-after'));
      const client = await createClient(server, ['read']);
      const own = await tokenWithLibrary(server, client.client_id, client.client_secret, 'post');
      assert.equal((await clientFor(server.url, own).get(`/v1/users/${userId}`)).status, 200);
    } finally {
      await server.stop();
    }
  });

  it('answers 503 while its JWKS answers an error, without counting its tokens as failed authentications', async () => {
    const failing = await startFakeIssuer({ alg: 'ES256' });
    const server = await startOAuthServer({ config: { oauthIssuer: failing.issuer, oauthAudience: AUDIENCE, authFailuresPerMinute: 2 } });
    try {
      const admin = server.client(await server.mintKey(['admin']));
      const userId = (await admin.post('/v1/users', { body: uniqueUser() })).body.id;
      failing.setJwksStatus(500);
      const token = await failing.sign({ aud: AUDIENCE, sub: 'svc', scope: 'read' });
      for (let i = 0; i < 3; i++) {
        const res = await clientFor(server.url, token).get(`/v1/users/${userId}`);
        assert.equal(res.status, 503, res.text);
        assert.equal(res.body.error, 'service_unavailable');
        assert.ok(res.headers.get('retry-after'));
      }
      // Three 503s against a budget of two failures: none was counted.
      const fresh = server.client(await server.mintKey(['read']));
      assert.equal((await fresh.get(`/v1/users/${userId}`)).status, 200);
      failing.setJwksStatus(200);
      assert.equal((await clientFor(server.url, token).get(`/v1/users/${userId}`)).status, 200, 'the issuer is back');
    } finally {
      await server.stop();
      await failing.close();
    }
  });
});
