import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../../src/store/database.js';
import { describeEachBackend } from '../helpers/backends.js';
import { type ApiResponse, type Client, call, uniqueUser } from '../helpers/client.js';
import { type TestServer, startTestServer, useServer } from '../helpers/server.js';

/** The seed's error body: `error` and `message`, and `details` only for validation errors. */
function assertErrorBody(res: ApiResponse, status: number, error: string): void {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(res.body.error, error);
  assert.equal(typeof res.body.message, 'string');
  assert.ok(res.body.message.length > 0);
  const keys = Object.keys(res.body).sort();
  assert.deepEqual(keys, error === 'validation_error' ? ['details', 'error', 'message'] : ['error', 'message']);
  assert.match(res.headers.get('x-request-id') ?? '', /^[A-Za-z0-9._:-]{1,128}$/);
}

/** A request with a body and no Content-Type at all (fetch always adds one). */
function postWithoutContentType(url: string, path: string, key: string, body: string): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url + path, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

await describeEachBackend('errors (API.md §4)', (backend) => {
  let server: TestServer;
  let readKey: string;
  let writeKey: string;
  let api: Client;

  before(async () => {
    server = await startTestServer({ backend });
    readKey = await server.mintKey(['read']);
    writeKey = await server.mintKey(['write']);
    api = server.client(writeKey);
  });
  after(() => server.stop());

  describe('401 unauthorized, with WWW-Authenticate: Bearer', () => {
    it('answers a request without a credential', async () => {
      const res = await call(server.url, 'GET', '/v1/users');
      assertErrorBody(res, 401, 'unauthorized');
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/);
    });

    it('answers another scheme with a bare challenge, and a malformed Bearer header with invalid_request (RFC 6750 §3.1)', async () => {
      for (const authorization of ['Basic dXNlcjpwYXNz', `Token ${writeKey}`, writeKey]) {
        const res = await call(server.url, 'GET', '/v1/users', { headers: { authorization } });
        assertErrorBody(res, 401, 'unauthorized');
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="roster"', authorization);
      }
      for (const authorization of ['Bearer', 'Bearer a b', `Bearer ${writeKey} ${writeKey}`]) {
        const res = await call(server.url, 'GET', '/v1/users', { headers: { authorization } });
        assertErrorBody(res, 401, 'unauthorized');
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_request"/, authorization);
      }
    });

    it('refuses two Authorization headers, whichever comes first: a proxy might read the other', async () => {
      const { hostname, port } = new URL(server.url);
      for (const pair of [[`Bearer ${writeKey}`, 'Bearer rk_other'], ['Bearer rk_other', `Bearer ${writeKey}`]]) {
        const answer = await new Promise<{ status: number; challenge: string }>((resolve, reject) => {
          const req = httpRequest({ hostname, port, path: '/v1/users', headers: ['Host', `${hostname}:${port}`, 'Authorization', pair[0], 'Authorization', pair[1]] }, (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, challenge: String(res.headers['www-authenticate']) }));
          });
          req.on('error', reject);
          req.end();
        });
        assert.equal(answer.status, 401);
        assert.match(answer.challenge, /error="invalid_request"/);
      }
      assert.equal((await api.get('/v1/users')).status, 200, 'one header works');
    });

    it('answers an unknown key, and one whose secret part is wrong', async () => {
      const wrongSecret = `${writeKey.slice(0, writeKey.lastIndexOf('_') + 1)}${'A'.repeat(43)}`;
      for (const key of [`rk_zzzzzzzzzzzz_${'a'.repeat(43)}`, wrongSecret, 'not-a-roster-key']) {
        const res = await call(server.url, 'GET', '/v1/users', { key });
        assertErrorBody(res, 401, 'unauthorized');
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_token"/);
        assert.ok(!res.text.includes(key), 'the credential is not echoed');
      }
    });

    it('comes before any validation of the body', async () => {
      const res = await call(server.url, 'POST', '/v1/users', { body: { nonsense: true } });
      assertErrorBody(res, 401, 'unauthorized');
    });
  });

  it('403 insufficient_scope names the missing scope, before the body is validated', async () => {
    const res = await call(server.url, 'POST', '/v1/users', { key: readKey, body: { nonsense: true } });
    assertErrorBody(res, 403, 'insufficient_scope');
    assert.match(res.body.message, /'write'/);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope".*scope="write"/);
    const admin = await call(server.url, 'GET', '/v1/api-keys', { key: writeKey });
    assertErrorBody(admin, 403, 'insufficient_scope');
    assert.match(admin.body.message, /'admin'/);
  });

  it('404 not_found for an unknown route, with or without a credential', async () => {
    assertErrorBody(await call(server.url, 'GET', '/v1/nothing-here'), 404, 'not_found');
    assertErrorBody(await call(server.url, 'GET', '/v2/users', { key: readKey }), 404, 'not_found');
    assertErrorBody(await call(server.url, 'DELETE', '/v1/users/usr_aaaaaaaaaaaa/extra', { key: writeKey }), 404, 'not_found');
  });

  it('404 not_found with the seed message for an unknown user', async () => {
    const res = await api.get('/v1/users/usr_000000000000');
    assertErrorBody(res, 404, 'not_found');
    assert.equal(res.body.message, 'User not found');
  });

  it('405 method_not_allowed on a known path, with Allow listing the right methods', async () => {
    const collection = await call(server.url, 'PUT', '/v1/users', { key: writeKey, body: {} });
    assertErrorBody(collection, 405, 'method_not_allowed');
    const allowCollection = (collection.headers.get('allow') ?? '').split(/,\s*/);
    assert.ok(allowCollection.includes('GET') && allowCollection.includes('POST'), collection.headers.get('allow') ?? '');
    assert.ok(!allowCollection.includes('PUT'));

    const item = await call(server.url, 'POST', '/v1/users/usr_aaaaaaaaaaaa', { key: writeKey, body: {} });
    assertErrorBody(item, 405, 'method_not_allowed');
    const allowItem = (item.headers.get('allow') ?? '').split(/,\s*/);
    for (const m of ['GET', 'PATCH', 'DELETE']) assert.ok(allowItem.includes(m), `${m} in ${item.headers.get('allow')}`);
    assert.ok(!allowItem.includes('POST'));
  });

  describe('413 payload_too_large', () => {
    it('answers a body over 64 KiB', async () => {
      const res = await api.post('/v1/users', { rawBody: JSON.stringify({ ...uniqueUser(), metadata: { pad: 'x'.repeat(70_000) } }), headers: { 'content-type': 'application/json' } });
      assertErrorBody(res, 413, 'payload_too_large');
    });

    it('reads a body of exactly 64 KiB (then rejects it for its content, not its size)', async () => {
      const base = JSON.stringify({ ...uniqueUser(), metadata: { pad: '' } });
      const exact = base.replace('"pad":""', `"pad":"${'x'.repeat(64 * 1024 - base.length)}"`);
      assert.equal(Buffer.byteLength(exact), 64 * 1024);
      const res = await api.post('/v1/users', { rawBody: exact, headers: { 'content-type': 'application/json' } });
      assertErrorBody(res, 400, 'validation_error');
      assert.ok(res.body.details.metadata, 'metadata over 8 KiB');
      const over = await api.post('/v1/users', { rawBody: `${exact} `, headers: { 'content-type': 'application/json' } });
      assertErrorBody(over, 413, 'payload_too_large');
    });
  });

  describe('415 unsupported_media_type', () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'text/plain; charset=utf-8', 'application/xml', 'multipart/form-data; boundary=x']) {
      it(`answers a body sent as ${type}`, async () => {
        const res = await api.post('/v1/users', { rawBody: JSON.stringify(uniqueUser()), headers: { 'content-type': type } });
        assertErrorBody(res, 415, 'unsupported_media_type');
        assert.match(res.body.message, /application\/json/);
      });
    }

    it('answers a body sent without any Content-Type', async () => {
      const res = await postWithoutContentType(server.url, '/v1/users', writeKey, JSON.stringify(uniqueUser()));
      assert.equal(res.status, 415);
      assert.equal(res.body.error, 'unsupported_media_type');
    });

    it('answers application/merge-patch+json anywhere but on PATCH: a merge patch is no creation', async () => {
      const body = uniqueUser('mp');
      const res = await api.post('/v1/users', { rawBody: JSON.stringify(body), headers: { 'content-type': 'application/merge-patch+json' } });
      assertErrorBody(res, 415, 'unsupported_media_type');
      assert.equal((await api.get(`/v1/users?email=${encodeURIComponent(body.email)}`)).body.data.length, 0, 'nothing created');
    });

    it('answers a body with a Content-Encoding, which the API does not decode', async () => {
      for (const coding of ['gzip', 'br', 'deflate']) {
        const res = await api.post('/v1/users', { rawBody: JSON.stringify(uniqueUser()), headers: { 'content-type': 'application/json', 'content-encoding': coding } });
        assertErrorBody(res, 415, 'unsupported_media_type');
        assert.match(res.body.message, /Content-Encoding/);
      }
      const identity = await api.post('/v1/users', { rawBody: JSON.stringify(uniqueUser()), headers: { 'content-type': 'application/json', 'content-encoding': 'identity' } });
      assert.equal(identity.status, 201, identity.text);
    });

    it('accepts application/json with a charset, and application/merge-patch+json on PATCH', async () => {
      const created = await api.post('/v1/users', { rawBody: JSON.stringify(uniqueUser()), headers: { 'content-type': 'application/json; charset=utf-8' } });
      assert.equal(created.status, 201, created.text);
      const patched = await api.patch(`/v1/users/${created.body.id}`, { rawBody: '{"first_name":"Jane"}', headers: { 'content-type': 'application/merge-patch+json' } });
      assert.equal(patched.status, 200, patched.text);
    });
  });

  describe('400 validation_error for bodies that are not a JSON object', () => {
    it('answers a body that is not UTF-8, instead of storing U+FFFD in place of its bytes', async () => {
      const body = uniqueUser('utf');
      for (const bad of [Buffer.from([0xc3, 0x28]), Buffer.from([0xff]), Buffer.from([0xed, 0xa0, 0x80])]) {
        const raw = Buffer.concat([Buffer.from(`{"email":"${body.email}","username":"${body.username}","last_name":"ab`), bad, Buffer.from('"}')]);
        const res = await api.post('/v1/users', { rawBody: raw, headers: { 'content-type': 'application/json' } });
        assertErrorBody(res, 400, 'validation_error');
        assert.deepEqual(res.body.details, { body: ['Must be encoded in UTF-8'] });
      }
      assert.equal((await api.get(`/v1/users?email=${encodeURIComponent(body.email)}`)).body.data.length, 0, 'nothing stored');
      const fine = await api.post('/v1/users', { body: { ...body, last_name: 'Ab\u00e9 \u{1F600}' } });
      assert.equal(fine.status, 201, fine.text);
      assert.equal(fine.body.last_name, 'Ab\u00e9 \u{1F600}');
    });

    it('takes a request labelled JSON without a body where none is needed, as many clients send it', async () => {
      const json = { 'content-type': 'application/json' };
      const user = await api.post('/v1/users', { body: uniqueUser('nobody') });
      assert.equal((await api.post(`/v1/users/${user.body.id}/verification-email`, { headers: json })).status, 202);
      assert.equal((await api.delete(`/v1/users/${user.body.id}`, { headers: json })).status, 204);
      const wrongMethod = await api.delete('/v1/events', { headers: json });
      assertErrorBody(wrongMethod, 405, 'method_not_allowed');
      const needed = await api.post('/v1/users', { rawBody: '', headers: json });
      assertErrorBody(needed, 400, 'validation_error');
      assert.deepEqual(needed.body.details, { body: ['Must not be empty'] });
    });

    it('refuses a body where none is taken, as unknown fields are refused elsewhere; {} is no body', async () => {
      const user = await api.post('/v1/users', { body: uniqueUser('extra') });
      const path = `/v1/users/${user.body.id}/verification-email`;
      const unknown = await api.post(path, { body: { x: 1 } });
      assertErrorBody(unknown, 400, 'validation_error');
      assert.deepEqual(unknown.body.details, { x: ['Unknown field'] });
      for (const raw of ['[]', '"str"', '1', 'null']) {
        const res = await api.post(path, { rawBody: raw, headers: { 'content-type': 'application/json' } });
        assertErrorBody(res, 400, 'validation_error');
        assert.deepEqual(res.body.details, { body: ['Must be a JSON object'] }, raw);
      }
      assertErrorBody(await api.delete(`/v1/users/${user.body.id}`, { body: { reason: 'x' } }), 400, 'validation_error');
      assert.equal((await api.get(`/v1/users/${user.body.id}`)).status, 200, 'not deleted');
      assert.equal((await api.post(path, { body: {} })).status, 202);
      assert.equal((await api.delete(`/v1/users/${user.body.id}`, { body: {} })).status, 204);
    });

    it('answers malformed JSON', async () => {
      for (const raw of ['{"email": ', '{email: "a@b.c"}', "{'a': 1}", '{"a": 1,}']) {
        const res = await api.post('/v1/users', { rawBody: raw, headers: { 'content-type': 'application/json' } });
        assertErrorBody(res, 400, 'validation_error');
        assert.equal(res.body.message, 'Invalid request parameters');
        assert.deepEqual(Object.keys(res.body.details), ['body'], raw);
      }
      const patch = await api.patch('/v1/users/usr_aaaaaaaaaaaa', { rawBody: '{"a"', headers: { 'content-type': 'application/merge-patch+json' } });
      assertErrorBody(patch, 400, 'validation_error');
    });

    it('answers JSON that is not an object', async () => {
      for (const raw of ['[]', '[{"email":"a@example.com"}]', '"text"', '42', 'null', 'true']) {
        const res = await api.post('/v1/users', { rawBody: raw, headers: { 'content-type': 'application/json' } });
        assertErrorBody(res, 400, 'validation_error');
        assert.deepEqual(res.body.details, { body: ['Must be a JSON object'] }, raw);
      }
    });

    it('answers an empty body', async () => {
      const res = await api.post('/v1/users', { rawBody: '', headers: { 'content-type': 'application/json' } });
      assertErrorBody(res, 400, 'validation_error');
    });
  });

  describe('400 validation_error for text no database can store', () => {
    // U+0000 cannot be stored in PostgreSQL text or jsonb, and UTF-8 cannot encode an unpaired
    // surrogate: such input is refused, never a 500 and never silently altered.
    const json = (body: string) => ({ rawBody: body, headers: { 'content-type': 'application/json' } });
    const name = () => uniqueUser().username;
    const cases: [string, () => Promise<ApiResponse>, string][] = [
      ['a NUL in a metadata value', () => api.post('/v1/users', json(`{"email":"${uniqueUser().email}","username":"${name()}","metadata":{"a":"x\\u0000y"}}`)), 'metadata'],
      ['a NUL in a metadata key', () => api.post('/v1/users', json(`{"email":"${uniqueUser().email}","username":"${name()}","metadata":{"deep":[{"k\\u0000":1}]}}`)), 'metadata'],
      ['an unpaired surrogate in metadata', () => api.post('/v1/users', json(`{"email":"${uniqueUser().email}","username":"${name()}","metadata":{"a":"\\ud800"}}`)), 'metadata'],
      ['an unpaired surrogate in a name', () => api.post('/v1/users', json(`{"email":"${uniqueUser().email}","username":"${name()}","first_name":"x\\udc00"}`)), 'first_name'],
      ['a NUL in a PATCHed metadata', () => api.patch('/v1/users/usr_aaaaaaaaaaaa', json('{"metadata":{"a":"\\u0000"}}')), 'metadata'],
      ['a NUL in q', () => api.get('/v1/users?q=a%00'), 'q'],
      ['a NUL in the email filter', () => api.get('/v1/users?email=%00'), 'email'],
      ['a NUL in the user id', () => api.get('/v1/users/usr_%00'), 'user_id'],
    ];
    for (const [what, send, field] of cases) {
      it(`refuses ${what}`, async () => {
        const res = await send();
        assertErrorBody(res, 400, 'validation_error');
        assert.ok(res.body.details[field], `${field} named: ${res.text}`);
      });
    }

    it('still takes paired surrogates (emoji) and every other character', async () => {
      const res = await api.post('/v1/users', { body: { ...uniqueUser(), first_name: 'Zoë 🎉', metadata: { note: 'tab\tand 😀', '🔑': ['ok'] } } });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.first_name, 'Zoë 🎉');
      assert.deepEqual(res.body.metadata, { note: 'tab\tand 😀', '🔑': ['ok'] });
    });
  });

  describe('400 validation_error for a malformed URL, in the same body', () => {
    it('answers a path with broken percent-encoding', async () => {
      const res = await call(server.url, 'GET', '/v1/users/%E0%A4%A', { key: readKey });
      assertErrorBody(res, 400, 'validation_error');
      assert.ok(!res.text.includes('FST_'), 'no framework internals');
    });

    it('answers a query with broken percent-encoding, naming the parameter, where it used to search for the raw text', async () => {
      const cases: [string, string][] = [
        ['q=%ZZab', 'q'],
        ['q=caf%E9', 'q'],
        ['email=a%@example.com', 'email'],
        ['limit=2&username=%C0%AF', 'username'],
        ['%E9=1', 'query'],
      ];
      for (const [query, field] of cases) {
        const res = await call(server.url, 'GET', `/v1/users?${query}`, { key: readKey });
        assertErrorBody(res, 400, 'validation_error');
        assert.deepEqual(res.body.details, { [field]: ['Malformed URL encoding'] }, query);
      }
      const fine = await call(server.url, 'GET', '/v1/users?q=caf%C3%A9+x%2B%25', { key: readKey });
      assert.equal(fine.status, 200, 'well-formed escapes, + and an escaped % still pass');
    });

    it('logs one access line for each, like any other request', async () => {
      for (const [id, path] of [['bad-encoding', '/v1/users/%E0%A4%A'], ['overlong', `/v1/users/usr_${'a'.repeat(300)}`]]) {
        const requestId = `${id}-${Math.random().toString(36).slice(2)}`;
        const res = await call(server.url, 'GET', path, { key: readKey, headers: { 'x-request-id': requestId } });
        assert.equal(res.headers.get('x-request-id'), requestId);
        const lines = server.logs.filter((l) => l.request_id === requestId && l.msg === 'request');
        assert.equal(lines.length, 1, `${id}: ${JSON.stringify(lines)}`);
        assert.equal(lines[0].status, 400);
        assert.equal(lines[0].method, 'GET');
      }
    });

    it('answers an overlong path parameter', async () => {
      const res = await call(server.url, 'GET', `/v1/users/usr_${'a'.repeat(300)}`, { key: readKey });
      assertErrorBody(res, 400, 'validation_error');
      assert.ok(!res.text.includes('FST_'), 'no framework internals');
    });
  });

  describe('X-Request-Id', () => {
    it('is echoed on every kind of response when the caller sends one', async () => {
      const cases: [string, string, Record<string, unknown>][] = [
        ['GET', '/healthz', {}],
        ['GET', '/v1/users', { key: readKey }],
        ['GET', '/v1/users', {}],
        ['POST', '/v1/users', { key: readKey, body: {} }],
        ['GET', '/v1/nowhere', {}],
        ['PUT', '/v1/users', { key: writeKey, body: {} }],
        ['POST', '/v1/users', { key: writeKey, rawBody: '{', headers: { 'content-type': 'application/json' } }],
        ['POST', '/v1/users', { key: writeKey, rawBody: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
        ['GET', '/v1/users/%E0%A4%A', { key: readKey }],
      ];
      for (const [method, path, options] of cases) {
        const id = `trace-${method}-${Math.random().toString(36).slice(2)}`;
        const res = await call(server.url, method, path, { ...options, headers: { ...(options.headers as object), 'x-request-id': id } });
        assert.equal(res.headers.get('x-request-id'), id, `${method} ${path} → ${res.status}`);
      }
    });

    it('is generated, unique, when absent or unacceptable', async () => {
      const a = await call(server.url, 'GET', '/healthz');
      const b = await call(server.url, 'GET', '/v1/users');
      const c = await call(server.url, 'GET', '/healthz', { headers: { 'x-request-id': 'has spaces and "quotes"' } });
      const d = await call(server.url, 'GET', '/healthz', { headers: { 'x-request-id': 'x'.repeat(500) } });
      const ids = [a, b, c, d].map((r) => r.headers.get('x-request-id'));
      for (const id of ids) assert.match(id ?? '', /^[A-Za-z0-9._:-]{8,128}$/);
      assert.equal(new Set(ids).size, 4);
    });
  });
});

await describeEachBackend('500 internal_error', (backend) => {
  const { server, api } = useServer(backend);

  it('leaks nothing of a real failure and logs it under the request id', async () => {
    const created = await api.post('/v1/users', { body: uniqueUser() });
    assert.equal(created.status, 201);
    // A second connection to the server's own database breaks it under the server's feet.
    const other = openDatabase({ url: server.databaseUrl, poolSize: 1 });
    try {
      await sql`alter table users rename to users_gone`.execute(other.db);
      const res = await api.get(`/v1/users/${created.body.id}`, { headers: { 'x-request-id': 'trace-internal-1' } });
      assert.equal(res.status, 500, res.text);
      assert.deepEqual(Object.keys(res.body).sort(), ['error', 'message']);
      assert.equal(res.body.error, 'internal_error');
      assert.equal(res.headers.get('x-request-id'), 'trace-internal-1');
      for (const leak of [/sql/i, /users/i, /table/i, /relation/i, /select/i, /\bat\s/, /\.ts\b/, /\.js\b/, /node_modules/, /stack/i]) {
        assert.ok(!leak.test(res.body.message), `message leaks ${leak}: ${res.body.message}`);
      }
      const logged = server.logs.filter((l) => l.request_id === 'trace-internal-1');
      assert.ok(
        logged.some((l) => Number(l.level) >= 50 && l.err),
        'the failure is logged at error level with the request id',
      );
      assert.ok(logged.some((l) => l.msg === 'request' && l.status === 500), 'and the access line records the 500');
    } finally {
      await sql`alter table users_gone rename to users`.execute(other.db);
      await other.close();
    }
    assert.equal((await api.get(`/v1/users/${created.body.id}`)).status, 200, 'the server recovers');
  });
});
