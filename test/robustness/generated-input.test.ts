import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Ajv } from 'ajv';
import fc from 'fast-check';
import { describeEachBackend } from '../helpers/backends.js';
import { type Operation, brokenObject, fillPath, loadOperations, nastyString, responseAjv, responseProblems, valueFor } from '../helpers/openapi.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

/**
 * Every operation of /openapi.json, driven with generated requests, valid and not: whatever
 * comes in, the answer is never a 5xx, its status is one the operation documents, and its body
 * matches the schema documented for that status. New endpoints are covered once they are listed.
 * ROSTER_PROPERTY_RUNS sets the runs per operation and kind (default 10; try 500).
 */
const RUNS = Number(process.env.ROSTER_PROPERTY_RUNS ?? 10);
const SEED = process.env.ROSTER_PROPERTY_SEED ? Number(process.env.ROSTER_PROPERTY_SEED) : undefined;

interface GeneratedRequest {
  path: string;
  query: string;
  headers: Record<string, string>;
  body?: string;
}

const printable = fc.stringMatching(/^[\x20-\x7e]{0,80}$/);

function encodeQuery(entries: Array<[string, unknown]>): string {
  const parts: string[] = [];
  for (const [k, v] of entries) {
    const value = typeof v === 'string' ? v : JSON.stringify(v);
    try {
      parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(value)}`);
    } catch {
      parts.push(`${encodeURIComponent(k.replace(/[\ud800-\udfff]/g, ''))}=%ED%A0%80`);
    }
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

await describeEachBackend('generated requests on every operation of /openapi.json', (backend) => {
  let server: TestServer;
  let key: string;
  let ajv: Ajv;
  let operations: Operation[];
  /** Ids created during the run, by collection path: real targets for /collection/{id}. */
  const pool = new Map<string, string[]>();

  before(async () => {
    // A generous failure budget: the generated Authorization headers would otherwise exhaust it.
    server = await startTestServer({ backend, config: { authFailuresPerMinute: 1_000_000 } });
    key = await server.mintKey(['admin']);
    ajv = responseAjv(server.config.roles);
    ({ operations } = await loadOperations(server.url));
    // Creating operations first, so that the ones taking an id find some.
    operations.sort((a, b) => Number(b.method === 'POST' && b.pathParams.length === 0) - Number(a.method === 'POST' && a.pathParams.length === 0));
  });
  after(() => server.stop());

  const collectionOf = (path: string) => path.replace(/\/\{[^}]+\}.*$/, '');

  async function send(op: Operation, req: GeneratedRequest): Promise<string[]> {
    const res = await fetch(server.url + req.path + req.query, { method: op.method, headers: req.headers, body: req.body });
    const text = await res.text();
    if (res.status === 201 && op.pathParams.length === 0) {
      const id = (JSON.parse(text) as { id?: unknown }).id;
      if (typeof id === 'string') pool.set(op.path, [...(pool.get(op.path) ?? []), id].slice(-50));
    }
    return responseProblems(ajv, op, res.status, res.headers.get('content-type'), text).map((p) => `${p}\n  request: ${JSON.stringify(req).slice(0, 500)}`);
  }

  /** Path values: known ids of the collection when there are some, else schema-shaped ones. */
  function pathArbitrary(op: Operation, nasty: boolean): fc.Arbitrary<string> {
    const entries = op.pathParams.map((p) => {
      const known = pool.get(collectionOf(op.path)) ?? [];
      const options: fc.Arbitrary<string>[] = [valueFor(p.schema, server.config.roles).map(String)];
      if (known.length) options.push(fc.constantFrom(...known));
      if (nasty) options.push(nastyString);
      return fc.tuple(fc.constant(p.name as string), fc.oneof(...options));
    });
    return fc.tuple(...entries).map((pairs) => fillPath(op.path, Object.fromEntries(pairs)));
  }

  function validRequest(op: Operation): fc.Arbitrary<GeneratedRequest> {
    const query = fc.subarray(op.queryParams).chain((params) =>
      fc.tuple(...params.map((p) => fc.tuple(fc.constant(p.name as string), valueFor(p.schema, server.config.roles)))),
    );
    const mediaTypes = op.body ? Object.keys(op.body.content) : [];
    const body = op.body ? fc.tuple(fc.constantFrom(...mediaTypes), valueFor(op.body.content[mediaTypes[0]], server.config.roles)) : fc.constant(undefined);
    return fc.record({ path: pathArbitrary(op, false), query, body }).map(({ path, query, body }) => {
      const headers: Record<string, string> = op.secured ? { authorization: `Bearer ${key}` } : {};
      if (body) headers['content-type'] = body[0];
      return { path, query: encodeQuery(query as Array<[string, unknown]>), headers, body: body ? JSON.stringify(body[1]) : undefined };
    });
  }

  function invalidRequest(op: Operation): fc.Arbitrary<GeneratedRequest> {
    const names = op.queryParams.map((p) => p.name as string);
    const query = fc.array(fc.tuple(names.length ? fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 10 })) : fc.string({ maxLength: 10 }), fc.oneof(nastyString, fc.jsonValue({ maxDepth: 2 }))), { maxLength: 4 });
    const takesBody = Boolean(op.body) || op.method === 'DELETE';
    const bodySchema = op.body ? Object.values(op.body.content)[0] : undefined;
    const body = takesBody
      ? fc.oneof(
          brokenObject(bodySchema, server.config.roles).map((v) => JSON.stringify(v) ?? 'null'),
          fc.constantFrom('', '{', '{"a":1,}', '[]', 'null', '"x"', '{"a":1}{"b":2}', '{"__proto__":{"x":1}}', '\ufeff{}', `{"a":${'['.repeat(5000)}`),
          fc.string({ unit: 'binary', maxLength: 100 }),
          fc.constant(undefined),
        )
      : fc.constant(undefined);
    const contentType = fc.constantFrom(...(op.body ? Object.keys(op.body.content) : []), 'application/json', 'text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/jsonx', '');
    const authorization = fc.oneof(
      fc.constant(`Bearer ${key}`),
      fc.constant(`Bearer ${key}`),
      fc.constant(undefined),
      printable,
      printable.map((s) => `Bearer ${s}`),
      fc.constantFrom('Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', `bearer ${key}`, `Bearer  ${key}`, `Bearer ${key}x`, `Bearer ${key.slice(0, -1)}`),
    );
    const extra = fc.record(
      { 'if-match': printable, 'if-none-match': printable, accept: printable, 'x-request-id': printable, 'idempotency-key': printable, origin: printable },
      { requiredKeys: [] },
    );
    return fc
      .record({ path: pathArbitrary(op, true), query, body, contentType, authorization, extra })
      .map(({ path, query, body, contentType, authorization, extra }) => {
        const headers: Record<string, string> = { ...(extra as Record<string, string>) };
        if (authorization !== undefined) headers.authorization = authorization;
        if (body !== undefined && contentType) headers['content-type'] = contentType;
        return { path, query: encodeQuery(query), headers, body };
      });
  }

  for (const kind of ['valid', 'invalid'] as const) {
    it(`answers ${kind} requests to every operation as documented, never with a 5xx`, async (t) => {
      assert.ok(operations.length >= 8, 'the document lists the operations');
      for (const op of operations) {
        await t.test(`${op.method} ${op.path}`, async () => {
          const arbitrary = kind === 'valid' ? validRequest(op) : invalidRequest(op);
          await fc.assert(
            fc.asyncProperty(arbitrary, async (req) => {
              const problems = await send(op, req);
              assert.deepEqual(problems, []);
            }),
            { numRuns: RUNS, seed: SEED, endOnFailure: true, includeErrorInReport: true },
          );
        });
      }
    });
  }

  it('answers requests with raw, malformed paths on every templated route with a documented 4xx', async () => {
    const problems: string[] = [];
    for (const op of operations.filter((o) => o.pathParams.length > 0)) {
      for (const segment of ['%', '%zz', '%ED%A0%80', '%00', '%C0%AF', 'a'.repeat(250), '..%2F..%2F', '%F0%9F%98%80']) {
        const path = op.path.replace(/\{[^}]+\}/g, segment);
        const res = await fetch(server.url + path, { method: op.method, headers: { authorization: `Bearer ${key}`, ...(op.body ? { 'content-type': 'application/json' } : {}) }, body: op.body ? '{}' : undefined });
        problems.push(...responseProblems(ajv, op, res.status, res.headers.get('content-type'), await res.text()).map((p) => `${p} (path ${path})`));
      }
    }
    assert.deepEqual(problems, []);
  });
});
