import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { describeEachBackend } from '../helpers/backends.js';
import { type ApiResponse, type Client, call, uniqueUser } from '../helpers/client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

/** The seed's error body, and the status it should have. */
function assertError(res: ApiResponse, status: number, code: string) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(res.body.error, code);
  assert.equal(typeof res.body.message, 'string');
  for (const key of Object.keys(res.body)) assert.ok(['error', 'message', 'details'].includes(key), `unexpected key ${key}`);
}

const json = { 'content-type': 'application/json' };

function nested(depth: number, open: string, close: string, leaf = '1'): string {
  return open.repeat(depth) + leaf + close.repeat(depth);
}

await describeEachBackend('hostile input', (backend) => {
  let server: TestServer;
  let api: Client;

  before(async () => {
    server = await startTestServer({ backend });
    api = server.client(await server.mintKey(['admin']));
  });
  after(() => server.stop());

  const create = (extra: Record<string, unknown> = {}) => api.post('/v1/users', { body: { ...uniqueUser('hostile'), ...extra } });

  it('answers 413 to a body over 64 KiB, and the server keeps serving', async () => {
    const res = await api.post('/v1/users', { body: { ...uniqueUser(), metadata: { blob: 'x'.repeat(70 * 1024) } } });
    assertError(res, 413, 'payload_too_large');
    assert.equal((await create()).status, 201);
  });

  it('refuses metadata nested deeper than 32 levels with a 400, however deep (never a 5xx)', async () => {
    for (const body of [
      `{"metadata":{"x":${nested(30_000, '[', ']')}}}`,
      `{"metadata":${nested(6000, '{"a":', '}')}}`,
      `{"metadata":${nested(33, '{"a":', '}')}}`,
    ]) {
      const u = uniqueUser();
      const res = await api.post('/v1/users', { rawBody: body.replace('{"metadata"', `{"email":"${u.email}","username":"${u.username}","metadata"`), headers: json });
      assertError(res, 400, 'validation_error');
      assert.deepEqual(res.body.details, { metadata: ['Must not nest objects and arrays more than 32 levels deep'] });
    }
    const u = uniqueUser();
    const ok = await api.post('/v1/users', { rawBody: `{"email":"${u.email}","username":"${u.username}","metadata":${nested(32, '{"a":', '}', '{}')}}`, headers: json });
    assert.equal(ok.status, 400, 'the empty object at the bottom is level 33');
    const fits = await api.post('/v1/users', { rawBody: `{"email":"${u.email}","username":"${u.username}","metadata":${nested(32, '{"a":', '}')}}`, headers: json });
    assert.equal(fits.status, 201, fits.text);
    const patched = await api.patch(`/v1/users/${fits.body.id}`, { rawBody: `{"metadata":{"b":${nested(40, '[', ']')}}}`, headers: json });
    assertError(patched, 400, 'validation_error');
  });

  it('refuses metadata over 8 KiB, also when a PATCH merge would make it so', async () => {
    assertError(await create({ metadata: { a: 'x'.repeat(8200) } }), 400, 'validation_error');
    const manyKeys = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, i]));
    assertError(await create({ metadata: manyKeys }), 400, 'validation_error');
    const user = (await create({ metadata: { a: 'x'.repeat(5000) } })).body;
    const res = await api.patch(`/v1/users/${user.id}`, { body: { metadata: { b: 'y'.repeat(5000) } } });
    assertError(res, 400, 'validation_error');
    assert.deepEqual((await api.get(`/v1/users/${user.id}`)).body.metadata, { a: 'x'.repeat(5000) });
  });

  it('stores __proto__, constructor and prototype keys as data, polluting nothing', async () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const u = uniqueUser();
    const raw = `{"email":"${u.email}","username":"${u.username}","metadata":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"prototype":{"polluted":"yes"}}}`;
    const res = await api.post('/v1/users', { rawBody: raw, headers: json });
    assert.equal(res.status, 201, res.text);
    // JSON.parse makes `__proto__` an own key, as the server must have kept it.
    assert.deepEqual(JSON.parse(res.text).metadata, JSON.parse(raw).metadata);
    assert.ok(res.text.includes('"__proto__":{"polluted":"yes"}'), res.text);
    const patch = `{"metadata":{"__proto__":{"also":"data"},"constructor":null}}`;
    const merged = await api.patch(`/v1/users/${res.body.id}`, { rawBody: patch, headers: { 'content-type': 'application/merge-patch+json' } });
    assert.equal(merged.status, 200, merged.text);
    const read = await api.get(`/v1/users/${res.body.id}`);
    const metadata = JSON.parse(read.text).metadata;
    assert.ok(Object.hasOwn(metadata, '__proto__'), 'the __proto__ key comes back as a key');
    assert.deepEqual(Object.keys(metadata).sort(), ['__proto__', 'prototype']);
    assert.deepEqual({ ...metadata['__proto__'] }, { polluted: 'yes', also: 'data' });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(({} as Record<string, unknown>).also, undefined);
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), before);
    // Unknown top-level fields named after prototypes are plain unknown fields.
    const top = await api.post('/v1/users', { rawBody: `{"email":"${uniqueUser().email}","username":"protouser","__proto__":{"role":"admin"}}`, headers: json });
    assertError(top, 400, 'validation_error');
    assert.deepEqual(top.body.details.__proto__, ['Unknown field']);
  });

  it('refuses NUL anywhere (names, metadata keys and values, query, path) with a 400 on every store', async () => {
    assertError(await create({ first_name: 'a\u0000b' }), 400, 'validation_error');
    const meta = await create({ metadata: { note: 'a\u0000b' } });
    assertError(meta, 400, 'validation_error');
    assert.deepEqual(meta.body.details, { metadata: ['Must not contain the NUL character (U+0000)'] });
    assertError(await create({ metadata: { 'k\u0000': 1 } }), 400, 'validation_error');
    for (const query of ['q=%00', 'email=a%00b%40example.com', 'username=ab%00c', 'role=%00', 'cursor=%00']) {
      const res = await api.get(`/v1/users?${query}`);
      assertError(res, 400, 'validation_error');
    }
    assertError(await api.get('/v1/users/usr_%00'), 400, 'validation_error');
    assertError(await api.delete('/v1/api-keys/key_%00'), 400, 'validation_error');
  });

  it('keeps other control characters out of names and in metadata byte for byte', async () => {
    for (const ch of ['\u0001', '\t', '\n', '\u001b', '\u007f', '\u0085']) assertError(await create({ last_name: `a${ch}b` }), 400, 'validation_error');
    const res = await create({ metadata: { text: 'tab\there\u0001\u001b[31m' } });
    assert.equal(res.status, 201, res.text);
    assert.equal((await api.get(`/v1/users/${res.body.id}`)).body.metadata.text, 'tab\there\u0001\u001b[31m');
  });

  it('refuses unpaired surrogates rather than storing a different string', async () => {
    const u = uniqueUser();
    for (const [field, value] of [['first_name', '"\\ud800"'], ['metadata', '{"\\udfff":1}'], ['metadata', '{"a":"x\\ud83d"}']]) {
      const res = await api.post('/v1/users', { rawBody: `{"email":"${u.email}","username":"${u.username}","${field}":${value}}`, headers: json });
      assertError(res, 400, 'validation_error');
      assert.ok(res.body.details[field], res.text);
    }
    assertError(await api.post('/v1/api-keys', { rawBody: '{"name":"\\udc00","scopes":["read"]}', headers: json }), 400, 'validation_error');
    // A paired surrogate (an emoji) is ordinary text.
    const emoji = await create({ first_name: 'Ana 😀', metadata: { '😀': '😀' } });
    assert.equal(emoji.status, 201, emoji.text);
    assert.equal(emoji.body.first_name, 'Ana 😀');
  });

  it('stores names NFC-normalized and metadata exactly as sent', async () => {
    const res = await create({ first_name: 'Jose\u0301', last_name: 'A\u030angstro\u0308m', metadata: { 'e\u0301': 'e\u0301' } });
    assert.equal(res.status, 201, res.text);
    const read = (await api.get(`/v1/users/${res.body.id}`)).body;
    assert.equal(read.first_name, 'Jos\u00e9');
    assert.equal(read.last_name, '\u00c5ngstr\u00f6m');
    assert.deepEqual(read.metadata, { 'e\u0301': 'e\u0301' });
    const found = await api.get(`/v1/users?q=${encodeURIComponent('José')}`);
    assert.ok(found.body.data.some((u: { id: string }) => u.id === res.body.id));
  });

  it('refuses numbers too large for a double instead of storing null; keeps the largest finite one', async () => {
    const u = uniqueUser();
    const res = await api.post('/v1/users', { rawBody: `{"email":"${u.email}","username":"${u.username}","metadata":{"n":1e400}}`, headers: json });
    assertError(res, 400, 'validation_error');
    assert.deepEqual(res.body.details, { metadata: ['Numbers must be finite'] });
    const ok = await api.post('/v1/users', { rawBody: `{"email":"${u.email}","username":"${u.username}","metadata":{"n":1.7976931348623157e308,"m":-5e-324}}`, headers: json });
    assert.equal(ok.status, 201, ok.text);
    assert.deepEqual((await api.get(`/v1/users/${ok.body.id}`)).body.metadata, { n: 1.7976931348623157e308, m: -5e-324 });
    assertError(await api.post('/v1/api-keys', { rawBody: '{"name":"n","scopes":["read"],"expires_in":1e400}', headers: json }), 400, 'validation_error');
    assertError(await api.get('/v1/users?limit=1e400'), 400, 'validation_error');
    assertError(await api.get('/v1/users?limit=99999999999999999999999'), 400, 'validation_error');
  });

  it('takes the last of duplicate JSON keys, deterministically', async () => {
    const a = uniqueUser();
    const b = uniqueUser();
    const res = await api.post('/v1/users', { rawBody: `{"email":"${a.email}","username":"${a.username}","username":"${b.username}"}`, headers: json });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.username, b.username);
  });

  it('answers malformed paths and over-long path parameters with the seed body, not the framework one', async () => {
    for (const path of ['/v1/users/%ED%A0%80', '/v1/users/%', '/v1/users/%zz', `/v1/users/${'a'.repeat(300)}`]) {
      const res = await api.get(path);
      assertError(res, 400, 'validation_error');
      assert.ok(res.headers.get('x-request-id'));
      assert.equal(res.headers.get('cache-control'), 'no-store');
    }
  });

  it('answers malformed JSON, wrong media types and empty bodies with 4xx', async () => {
    assertError(await api.post('/v1/users', { rawBody: '{"email":', headers: json }), 400, 'validation_error');
    assertError(await api.post('/v1/users', { rawBody: '[]', headers: json }), 400, 'validation_error');
    assertError(await api.post('/v1/users', { rawBody: 'null', headers: json }), 400, 'validation_error');
    assertError(await api.post('/v1/users', { rawBody: '', headers: json }), 400, 'validation_error');
    const bom = uniqueUser();
    const withBom = await api.post('/v1/users', { rawBody: `\ufeff{"email":"${bom.email}","username":"${bom.username}"}`, headers: json });
    assert.ok(withBom.status === 201 || withBom.status === 400, withBom.text);
    const xml = await api.post('/v1/users', { rawBody: '<user/>', headers: { 'content-type': 'application/xml' } });
    assert.ok(xml.status === 415 || xml.status === 400, xml.text);
    assert.ok(['unsupported_media_type', 'validation_error'].includes(xml.body.error));
  });
});

/** Polls until `ready()` holds, failing after a generous deadline (no timed assertions). */
async function until(ready: () => boolean, what: string, deadlineMs = 20_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!ready()) {
    if (Date.now() > end) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface RawClient {
  socket: Socket;
  received: string;
  closed: boolean;
}

function rawClient(url: string): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const client: RawClient = { socket: connect(Number(port), hostname), received: '', closed: false };
    client.socket.setEncoding('utf8');
    client.socket.on('data', (d) => (client.received += d));
    client.socket.on('close', () => (client.closed = true));
    client.socket.on('error', () => (client.closed = true));
    client.socket.once('connect', () => resolve(client));
    client.socket.once('error', reject);
  });
}

/** Sends one raw request and waits for the server to answer and close: its head and body. */
async function exchange(url: string, request: string, what: string): Promise<[string, string]> {
  const client = await rawClient(url);
  try {
    client.socket.write(request);
    await until(() => client.closed, what);
    const [head, body] = client.received.split('\r\n\r\n');
    return [head, body];
  } finally {
    client.socket.destroy();
  }
}

describe('slow and numerous clients', () => {
  let server: TestServer;
  let key: string;

  before(async () => {
    server = await startTestServer({ config: { headersTimeoutMs: 500, requestTimeoutMs: 1500 } });
    key = await server.mintKey(['write']);
  });
  after(() => server.stop());

  it('cuts off a client that trickles its headers, while serving everyone else', async () => {
    const slow = await rawClient(server.url);
    const request = `GET /v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nX-Padding: ${'a'.repeat(400)}\r\n\r\n`;
    let sent = 0;
    const trickle = setInterval(() => {
      if (slow.closed || sent >= request.length) return clearInterval(trickle);
      slow.socket.write(request[sent++]);
    }, 20);
    try {
      const res = await call(server.url, 'GET', '/healthz');
      assert.equal(res.status, 200);
      await until(() => slow.closed, 'the slow client to be disconnected');
      assert.ok(sent < request.length, 'cut off before it finished its headers');
      assert.ok(slow.received === '' || /^HTTP\/1\.1 408/.test(slow.received), slow.received);
    } finally {
      clearInterval(trickle);
      slow.socket.destroy();
    }
  });

  it('cuts off a client that trickles its body with a 408 or a close', async () => {
    const slow = await rawClient(server.url);
    const body = JSON.stringify(uniqueUser());
    slow.socket.write(`POST /v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    let sent = 0;
    const trickle = setInterval(() => {
      if (slow.closed || sent >= body.length - 1) return clearInterval(trickle);
      slow.socket.write(body[sent++]);
    }, 50);
    try {
      await until(() => slow.closed || slow.received.length > 0, 'the slow body to be answered or cut off');
      assert.ok(slow.received === '' || /^HTTP\/1\.1 (408|400)/.test(slow.received), slow.received);
      assert.equal((await call(server.url, 'GET', '/v1/users', { key })).status, 200);
    } finally {
      clearInterval(trickle);
      slow.socket.destroy();
    }
  });

  it('answers a request refused before its body arrived once, and closes its connection instead of answering a 408 too', async () => {
    const client = await rawClient(server.url);
    try {
      client.socket.write('POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"a"');
      await until(() => client.closed, 'the connection to be closed', 10_000);
      assert.match(client.received, /^HTTP\/1\.1 401 /);
      assert.equal(client.received.match(/HTTP\/1\.1 /g)?.length, 1, client.received);
    } finally {
      client.socket.destroy();
    }
    // A refusal of a request without a body keeps the connection for the next request.
    const kept = await rawClient(server.url);
    try {
      kept.socket.write('GET /v1/users HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => kept.received.includes('}'), 'the first answer');
      kept.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => kept.received.match(/HTTP\/1\.1 /g)?.length === 2 && kept.received.endsWith('}'), 'the second answer on the same connection');
      assert.match(kept.received, /^HTTP\/1\.1 401 [\s\S]*HTTP\/1\.1 200 /);
      assert.equal(kept.closed, false);
    } finally {
      kept.socket.destroy();
    }
  });

  it('refuses an ambiguous request (Content-Length with chunked encoding) instead of smuggling a second one', async () => {
    const client = await rawClient(server.url);
    try {
      const smuggled = `GET /v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n\r\n`;
      const chunk = `0\r\n\r\n${smuggled}`;
      client.socket.write(
        `POST /v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${chunk.length}\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`,
      );
      await until(() => client.closed, 'the ambiguous request to be refused and its connection closed');
      assert.match(client.received, /^HTTP\/1\.1 400/);
      assert.equal(client.received.match(/HTTP\/1\.1 /g)?.length, 1, 'the smuggled request got no answer');
    } finally {
      client.socket.destroy();
    }
  });

  it('answers what the HTTP parser refuses in the API\'s error body, with the headers every answer carries', async () => {
    const cases: Array<[string, number, string]> = [
      [`GET /v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'request_header_fields_too_large'],
      [`GET /v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer rk_\u0001abc\r\n\r\n`, 400, 'validation_error'],
      [`FOO /v1/users HTTP/1.1\r\nHost: x\r\n\r\n`, 400, 'validation_error'],
    ];
    for (const [request, status, code] of cases) {
      const [head, body] = await exchange(server.url, request, 'the refused request to be answered and its connection closed');
      assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), head);
      assert.match(head, /\r\nX-Request-Id: req_[a-z0-9]{16}\r\n/i);
      assert.match(head, /\r\nX-Content-Type-Options: nosniff\r\n/i);
      assert.match(head, /\r\nCache-Control: no-store\r\n/i);
      const parsed = JSON.parse(body);
      assert.equal(parsed.error, code);
      const id = /\r\nX-Request-Id: (req_[a-z0-9]{16})\r\n/i.exec(head)![1];
      await until(() => server.logs.some((l) => l.request_id === id && l.msg === 'request' && l.status === status), 'its access-log line');
      assert.equal(typeof parsed.message, 'string');
      assert.deepEqual(Object.keys(parsed).filter((k) => !['error', 'message', 'details'].includes(k)), [], 'nothing but the error body');
    }
  });

  it('refuses an HTTP/1.1 request with no Host, or with two, in the API\'s error body (RFC 9112 §3.2)', async () => {
    const cases: Array<[string, number, Record<string, string[]> | null]> = [
      [`GET /v1/users HTTP/1.1\r\nAuthorization: Bearer ${key}\r\nConnection: close\r\n\r\n`, 400, { Host: ['Required in HTTP/1.1'] }],
      [`GET /v1/users HTTP/1.1\r\nHost: a.example\r\nhost: b.example\r\nAuthorization: Bearer ${key}\r\nConnection: close\r\n\r\n`, 400, { Host: ['Must be given once'] }],
      [`GET /v1/users HTTP/1.0\r\nAuthorization: Bearer ${key}\r\n\r\n`, 200, null],
    ];
    for (const [request, status, details] of cases) {
      const [head, body] = await exchange(server.url, request, 'the answer and the connection closed');
      assert.match(head, new RegExp(`^HTTP/1\\.[01] ${status} `), head);
      assert.match(head, /\r\nX-Request-Id: [^\r]+\r\n/i, 'the headers every answer carries');
      if (details) assert.deepEqual(JSON.parse(body), { error: 'validation_error', message: 'Invalid request parameters', details });
    }
  });

  it('answers oversized request headers with 431 (or a close), and keeps serving', async () => {
    let status: number | 'closed';
    try {
      status = (await call(server.url, 'GET', `/v1/users?q=${'a'.repeat(20_000)}`, { key })).status;
    } catch {
      status = 'closed';
    }
    assert.ok(status === 431 || status === 'closed', String(status));
    assert.equal((await call(server.url, 'GET', '/v1/users', { key })).status, 200);
  });

  it('stays up for everyone while hundreds of idle connections are open, then closes them', async () => {
    const idle = await Promise.all(Array.from({ length: 300 }, () => rawClient(server.url)));
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => call(server.url, 'POST', '/v1/users', { key, body: uniqueUser('crowd') })));
      for (const res of answers) assert.equal(res.status, 201, res.text);
      await until(() => idle.every((c) => c.closed), 'idle connections to be closed by the headers timeout');
      assert.equal((await call(server.url, 'GET', '/healthz')).status, 200);
    } finally {
      for (const c of idle) c.socket.destroy();
    }
  });
});

describe('timeout settings', () => {
  it('start the server at every valid value, however they compare', async () => {
    for (const config of [
      { headersTimeoutMs: 600_000, requestTimeoutMs: 600_000 },
      { headersTimeoutMs: 500_000, requestTimeoutMs: 1000 },
    ]) {
      const server = await startTestServer({ config });
      try {
        assert.equal((await call(server.url, 'GET', '/healthz')).status, 200);
        assert.ok(server.server.app.server.headersTimeout <= server.server.app.server.requestTimeout);
      } finally {
        await server.stop();
      }
    }
  });
});
