import assert from 'node:assert/strict';
import { it } from 'node:test';
import { clientFor, uniqueUser } from '../helpers/client.js';
import { basic, createClient, startOAuthServer, tokenRequest } from '../helpers/oauth.js';

it('limits failed client authentications per address, in RFC 6749’s format, with Retry-After', async () => {
  const server = await startOAuthServer({ config: { authFailuresPerMinute: 3 } });
  try {
    const client = await createClient(server, ['read']);
    for (let i = 0; i < 3; i++) {
      const res = await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: basic(client.client_id, 'rcs_wrong') });
      assert.equal(res.status, 401);
    }
    // Past the budget, even the right secret is refused: guessing is what this stops.
    const res = await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: basic(client.client_id, client.client_secret) });
    assert.equal(res.status, 429, res.text);
    assert.equal(res.body.error, 'rate_limit_exceeded');
    assert.equal(typeof res.body.error_description, 'string');
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    assert.equal(res.headers.get('cache-control'), 'no-store');
  } finally {
    await server.stop();
  }
});

it('limits tokens per client, and API calls per client across all its tokens', async () => {
  const server = await startOAuthServer({ config: { rateLimitPerMinute: 2 } });
  try {
    const client = await createClient(server, ['write']);
    const other = await createClient(server, ['write']);
    const auth = { authorization: basic(client.client_id, client.client_secret) };
    const first = await tokenRequest(server, { grant_type: 'client_credentials' }, auth);
    const second = await tokenRequest(server, { grant_type: 'client_credentials' }, auth);
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.equal(second.headers.get('x-ratelimit-limit'), '2');
    const third = await tokenRequest(server, { grant_type: 'client_credentials' }, auth);
    assert.equal(third.status, 429);
    assert.equal(third.body.error, 'rate_limit_exceeded');
    assert.ok(third.headers.get('retry-after'));
    assert.deepEqual([third.headers.get('x-ratelimit-limit'), third.headers.get('x-ratelimit-remaining')], ['2', '0'], 'the refusal reports the budget too');
    assert.equal(third.headers.get('x-ratelimit-reset'), second.headers.get('x-ratelimit-reset'));
    // Another client has its own budget.
    assert.equal((await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: basic(other.client_id, other.client_secret) })).status, 200);

    // Bearer calls are limited per client, not per token: two tokens share one budget.
    const path = '/v1/users';
    const a = clientFor(server.url, first.body.access_token);
    const b = clientFor(server.url, second.body.access_token);
    const created = await a.post(path, { body: uniqueUser() });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.headers.get('x-ratelimit-remaining'), '1');
    assert.equal((await b.get(`${path}/${created.body.id}`)).status, 200);
    const over = await a.get(`${path}/${created.body.id}`);
    assert.equal(over.status, 429);
    assert.equal(over.body.error, 'rate_limit_exceeded');
    const line = server.logs.find((l) => l.status === 429 && l.credential === client.client_id);
    assert.ok(line, 'the log names the client that hit the limit');
  } finally {
    await server.stop();
  }
});

it('failed bearer credentials and failed client secrets from one address draw on one budget', async () => {
  const server = await startOAuthServer({ config: { authFailuresPerMinute: 3 } });
  try {
    const client = await createClient(server, ['read']);
    const guessing = clientFor(server.url, 'rk_guess');
    assert.equal((await guessing.get('/v1/users')).status, 401);
    assert.equal((await guessing.get('/v1/users')).status, 401);
    assert.equal((await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: basic(client.client_id, 'rcs_wrong') })).status, 401);
    // Three failures in all: both ways in are now closed to this address.
    const token = await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: basic(client.client_id, client.client_secret) });
    assert.equal(token.status, 429, token.text);
    const bearer = await guessing.get('/v1/users');
    assert.equal(bearer.status, 429, bearer.text);
    assert.equal(bearer.body.error, 'rate_limit_exceeded');
  } finally {
    await server.stop();
  }
});

it('keeps issuing tokens to a client that recently succeeded from an address over its failure budget', async () => {
  const server = await startOAuthServer({ config: { authFailuresPerMinute: 3 } });
  try {
    const working = await createClient(server, ['read']);
    const idle = await createClient(server, ['read']);
    const auth = { authorization: basic(working.client_id, working.client_secret) };
    assert.equal((await tokenRequest(server, { grant_type: 'client_credentials' }, auth)).status, 200);
    // Someone behind the same address (a NAT, a proxy) guesses, with secrets and bearer keys.
    for (let i = 0; i < 2; i++) assert.equal((await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: basic(working.client_id, `rcs_guess${i}`) })).status, 401);
    assert.equal((await clientFor(server.url, 'rk_guess').get('/v1/users')).status, 401);
    const again = await tokenRequest(server, { grant_type: 'client_credentials' }, auth);
    assert.equal(again.status, 200, again.text);
    // The token it just got works too, though no request has used it yet.
    assert.equal((await clientFor(server.url, again.body.access_token).get('/v1/users')).status, 200);
    // A client not seen working recently is not even checked: guessing stays blocked.
    const blocked = await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: basic(idle.client_id, idle.client_secret) });
    assert.equal(blocked.status, 429, blocked.text);
    assert.equal((await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: basic(working.client_id, 'rcs_guess9') })).status, 429);
  } finally {
    await server.stop();
  }
});

it('reports and spends the client’s budget on every answer once the client is authenticated, refusals too', async () => {
  const server = await startOAuthServer({ config: { rateLimitPerMinute: 3 } });
  try {
    const client = await createClient(server, ['read']);
    const auth = { authorization: basic(client.client_id, client.client_secret) };
    const answers = [
      await tokenRequest(server, { grant_type: 'client_credentials', scope: 'write' }, auth),
      await tokenRequest(server, { grant_type: 'password' }, auth),
      await tokenRequest(server, { grant_type: 'client_credentials' }, auth),
    ];
    assert.deepEqual(answers.map((r) => [r.status, r.body.error]), [[400, 'invalid_scope'], [400, 'unsupported_grant_type'], [200, undefined]]);
    assert.deepEqual(answers.map((r) => r.headers.get('x-ratelimit-limit')), ['3', '3', '3']);
    assert.deepEqual(answers.map((r) => r.headers.get('x-ratelimit-remaining')), ['2', '1', '0']);
    for (const r of answers) assert.match(r.headers.get('x-ratelimit-reset') ?? '', /^\d{10}$/);
    const over = await tokenRequest(server, { grant_type: 'client_credentials', scope: 'write' }, auth);
    assert.equal(over.status, 429, over.text);
    assert.ok(Number(over.headers.get('retry-after')) >= 1);
  } finally {
    await server.stop();
  }
});
