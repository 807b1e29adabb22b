import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { describeEachBackend } from '../helpers/backends.js';
import { call } from '../helpers/client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

type Schema = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** Operations anyone may call: the ops endpoints and OAuth discovery. Everything else needs a credential. */
const PUBLIC = new Set(['health', 'readiness', 'getAuthorizationServerMetadata', 'getJwks']);
/** The token endpoint answers in RFC 6749's own error format (API.md §4 conventions), not the seed's. */
const RFC6749 = 'createAccessToken';

/** Every (path, method, operation) of the document. */
function operations(doc: Schema): { path: string; method: string; op: Schema }[] {
  return Object.entries(doc.paths as Record<string, Schema>).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ path, method, op: item[method] })),
  );
}

/**
 * Visits every schema reachable from `schema` with the JSON path that leads to it, following
 * local $refs once each.
 */
function walk(doc: Schema, schema: unknown, path: string, visit: (s: Schema, path: string) => void, seen = new Set<unknown>()): void {
  if (typeof schema !== 'object' || schema === null || seen.has(schema)) return;
  seen.add(schema);
  let s = schema as Schema;
  if (typeof s.$ref === 'string') {
    assert.match(s.$ref, /^#\//, `${path}: only local references`);
    s = s.$ref
      .slice(2)
      .split('/')
      .reduce((node: Schema, key: string) => node?.[key], doc);
    assert.ok(s, `${path}: dangling ${(schema as Schema).$ref}`);
    return walk(doc, s, path, visit, seen);
  }
  visit(s, path);
  for (const [key, sub] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) walk(doc, sub, `${path}.${key}`, visit, seen);
  if (typeof s.additionalProperties === 'object') walk(doc, s.additionalProperties, `${path}{*}`, visit, seen);
  if (typeof s.patternProperties === 'object') for (const sub of Object.values(s.patternProperties)) walk(doc, sub, `${path}{~}`, visit, seen);
  if (s.items) walk(doc, s.items, `${path}[]`, visit, seen);
  for (const k of ['anyOf', 'oneOf', 'allOf']) for (const [i, sub] of ((s[k] ?? []) as Schema[]).entries()) walk(doc, sub, `${path}|${k}${i}`, visit, seen);
}

const typesOf = (s: Schema): string[] => (Array.isArray(s.type) ? s.type : s.type ? [s.type] : []);
const isObjectSchema = (s: Schema) => typesOf(s).includes('object') || (s.properties !== undefined && s.type === undefined);

await describeEachBackend('self-description', (backend) => {
  let server: TestServer;
  let doc: Schema;

  before(async () => {
    server = await startTestServer({ backend });
    const res = await call(server.url, 'GET', '/openapi.json');
    assert.equal(res.status, 200);
    doc = res.body;
  });
  after(() => server.stop());

  describe('GET /openapi.json', () => {
    it('is OpenAPI 3.1 describing every users and API-key route, without a credential', () => {
      assert.match(doc.openapi, /^3\.1\.\d+$/);
      assert.ok(doc.info?.title && doc.info?.version);
      const ops = new Set(operations(doc).map(({ method, path }) => `${method.toUpperCase()} ${path}`));
      for (const expected of [
        'POST /v1/users',
        'GET /v1/users',
        'GET /v1/users/{user_id}',
        'PATCH /v1/users/{user_id}',
        'DELETE /v1/users/{user_id}',
        'POST /v1/api-keys',
        'GET /v1/api-keys',
        'DELETE /v1/api-keys/{id}',
        'GET /healthz',
        'GET /readyz',
      ]) {
        assert.ok(ops.has(expected), `${expected} is documented`);
      }
      assert.ok(doc.components?.securitySchemes?.bearer, 'the bearer scheme is declared');
    });

    it('gives every operation a unique operationId, a summary, a description and tags', () => {
      const ids = new Set<string>();
      for (const { path, method, op } of operations(doc)) {
        const where = `${method.toUpperCase()} ${path}`;
        assert.match(op.operationId ?? '', /^[a-z][A-Za-z]+$/, `${where}: operationId`);
        assert.ok(!ids.has(op.operationId), `${where}: operationId ${op.operationId} is unique`);
        ids.add(op.operationId);
        assert.ok(typeof op.summary === 'string' && op.summary.length > 0, `${where}: summary`);
        assert.ok(typeof op.description === 'string' && op.description.length > 0, `${where}: description`);
        assert.ok(Array.isArray(op.tags) && op.tags.length > 0, `${where}: tags`);
      }
    });

    it('states the security of every operation: bearer, except the public ops', () => {
      const schemes = Object.keys(doc.components.securitySchemes);
      for (const { path, method, op } of operations(doc)) {
        const where = `${method.toUpperCase()} ${path}`;
        assert.ok(Array.isArray(op.security), `${where}: security stated`);
        if (PUBLIC.has(op.operationId)) {
          assert.deepEqual(op.security, [], `${where} is public`);
        } else {
          assert.ok(op.security.length > 0, `${where} needs a credential`);
          for (const requirement of op.security) for (const name of Object.keys(requirement)) assert.ok(schemes.includes(name), `${where}: ${name} declared`);
        }
      }
    });

    it('documents the error responses of every operation, each with the error body', () => {
      for (const { path, method, op } of operations(doc)) {
        const where = `${method.toUpperCase()} ${path}`;
        const statuses = Object.keys(op.responses ?? {});
        assert.ok(statuses.some((s) => /^2\d\d$/.test(s)), `${where}: a success response`);
        if (PUBLIC.has(op.operationId)) continue;
        if (op.operationId === RFC6749) {
          for (const status of ['400', '401']) {
            const schema = op.responses[status]?.content?.['application/json']?.schema;
            assert.ok(schema?.properties?.error && !schema.properties.message, `${where}: ${status} is RFC 6749's error body`);
          }
          continue;
        }
        const expected = ['401', '403', '429', '500'];
        // A route that takes no body still refuses one sent with it: too large, or not JSON.
        if (op.requestBody || ['post', 'put', 'patch', 'delete'].includes(method)) expected.push('400', '413', '415');
        if (path.includes('{')) expected.push('404');
        for (const status of expected) {
          const response = op.responses[status];
          assert.ok(response, `${where}: ${status} documented`);
          assert.ok(response.description, `${where}: ${status} described`);
          const schema = response.content?.['application/json']?.schema;
          assert.ok(schema, `${where}: ${status} has a JSON body`);
          assert.deepEqual(Object.keys(schema.properties).sort(), ['details', 'error', 'message'], `${where}: ${status} is the error body`);
          assert.deepEqual([...schema.required].sort(), ['error', 'message']);
        }
      }
    });

    it('shows each error status with its own code in the examples, and the seed\'s messages on its route', () => {
      const codes: Record<string, string> = {
        400: 'validation_error', 401: 'unauthorized', 403: 'insufficient_scope', 404: 'not_found', 409: 'conflict', 412: 'precondition_failed',
        413: 'payload_too_large', 415: 'unsupported_media_type', 422: 'idempotency_key_reused', 429: 'rate_limit_exceeded', 500: 'internal_error', 503: 'service_unavailable',
      };
      for (const { path, method, op } of operations(doc)) {
        if (PUBLIC.has(op.operationId) || op.operationId === RFC6749) continue;
        for (const [status, response] of Object.entries(op.responses as Record<string, Schema>)) {
          if (Number(status) < 400) continue;
          const examples = response.content['application/json'].schema.properties.error.examples;
          assert.deepEqual(examples, [codes[status]], `${method.toUpperCase()} ${path}: ${status}`);
        }
      }
      const patch = doc.paths['/v1/users/{user_id}'].patch.responses;
      const example = (status: string) => {
        const { error, message } = patch[status].content['application/json'].schema.properties;
        return [error.examples[0], message.examples[0]];
      };
      assert.deepEqual(example('404'), ['not_found', 'User not found']);
      assert.deepEqual(example('409'), ['conflict', 'Username already taken']);
      assert.deepEqual(example('400'), ['validation_error', 'Invalid request parameters']);
    });

    it('closes every request object with additionalProperties: false; metadata alone is open', () => {
      const open: string[] = [];
      let objects = 0;
      for (const { path, method, op } of operations(doc)) {
        const where = `${method.toUpperCase()} ${path}`;
        for (const [type, media] of Object.entries((op.requestBody?.content ?? {}) as Record<string, Schema>)) {
          walk(doc, media.schema, `${where} ${type} body`, (s, at) => {
            if (!isObjectSchema(s)) return;
            objects += 1;
            if (s.additionalProperties !== false) open.push(at);
          });
        }
      }
      assert.ok(objects >= 3, 'request bodies were found and walked');
      // metadata is the application's own free-form object (API.md §2): open by design, bounded
      // by its serialized size instead. The token request must ignore parameters it does not
      // know (RFC 6749 §3.2); each is still a bounded string.
      assert.deepEqual(open.sort(), [
        'PATCH /v1/users/{user_id} application/json body.metadata',
        'PATCH /v1/users/{user_id} application/merge-patch+json body.metadata',
        'POST /oauth/token application/x-www-form-urlencoded body',
        'POST /v1/users application/json body.metadata',
      ]);
      const form = doc.paths['/oauth/token'].post.requestBody.content['application/x-www-form-urlencoded'].schema;
      assert.equal(form.additionalProperties.maxLength, 2048, 'unknown token parameters are bounded strings');
      const create = doc.paths['/v1/users'].post.requestBody.content['application/json'].schema;
      assert.equal(create.properties.metadata['x-max-bytes'], 8192, 'metadata is bounded by size');
    });

    it('declares query and path parameters one by one, none of them unknown-tolerant', () => {
      const list = doc.paths['/v1/users'].get;
      const names = (list.parameters as Schema[]).map((p) => `${p.in}:${p.name}`).sort();
      assert.deepEqual(names, ['query:created_after', 'query:created_before', 'query:cursor', 'query:email', 'query:limit', 'query:q', 'query:role', 'query:username']);
      for (const { op } of operations(doc)) for (const p of (op.parameters ?? []) as Schema[]) if (p.in === 'path') assert.equal(p.required, true);
    });

    it('declares Idempotency-Key, with its 409 and 422, wherever it is taken, and nowhere else', () => {
      const taking: string[] = [];
      for (const { path, method, op } of operations(doc)) {
        const header = ((op.parameters ?? []) as Schema[]).find((p) => p.in === 'header' && /^idempotency-key$/i.test(p.name));
        if (!header) continue;
        taking.push(`${method.toUpperCase()} ${path}`);
        assert.equal(header.schema.maxLength, 255);
        for (const status of ['409', '422']) assert.ok(op.responses[status], `${method} ${path} documents ${status}`);
      }
      for (const route of ['POST /v1/users', 'PATCH /v1/users/{user_id}', 'POST /v1/users/{user_id}/password/verify']) assert.ok(taking.includes(route), route);
      for (const route of ['POST /v1/api-keys', 'POST /v1/oauth-clients', 'POST /v1/webhook-endpoints', 'POST /oauth/token']) assert.ok(!taking.includes(route), route);
      assert.ok(!taking.some((r) => /^(GET|DELETE|PUT) /.test(r)), taking.join(', '));
    });

    it('names each body as it is sent: a PATCH as JSON or a merge patch, metrics as Prometheus text', () => {
      assert.deepEqual(Object.keys(doc.paths['/v1/users/{user_id}'].patch.requestBody.content).sort(), ['application/json', 'application/merge-patch+json']);
      assert.deepEqual(Object.keys(doc.paths['/v1/users'].post.requestBody.content), ['application/json']);
      assert.deepEqual(Object.keys(doc.paths['/metrics'].get.responses['200'].content), ['text/plain']);
    });

    it('bounds every string with maxLength, in requests and responses alike', () => {
      const unbounded: string[] = [];
      let strings = 0;
      const check = (s: Schema, at: string) => {
        if (!typesOf(s).includes('string')) return;
        strings += 1;
        // A const or an enum is bounded by its values.
        if (s.const !== undefined || Array.isArray(s.enum)) return;
        if (typeof s.maxLength !== 'number') unbounded.push(at);
      };
      for (const { path, method, op } of operations(doc)) {
        const where = `${method.toUpperCase()} ${path}`;
        for (const p of (op.parameters ?? []) as Schema[]) walk(doc, p.schema, `${where} ${p.in}:${p.name}`, check);
        for (const [type, media] of Object.entries((op.requestBody?.content ?? {}) as Record<string, Schema>)) walk(doc, media.schema, `${where} ${type} body`, check);
        for (const [status, response] of Object.entries((op.responses ?? {}) as Record<string, Schema>)) {
          for (const [type, media] of Object.entries((response.content ?? {}) as Record<string, Schema>)) walk(doc, media.schema, `${where} ${status} ${type}`, check);
        }
      }
      assert.ok(strings > 50, `${strings} strings were found and walked`);
      assert.deepEqual(unbounded, []);
    });

    it('is the same document the interactive reference loads', async () => {
      const res = await call(server.url, 'GET', '/docs/json');
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.text), doc);
    });

    it('is not cached, under either address; only the reference\'s page and assets may be', async () => {
      for (const path of ['/openapi.json', '/docs/json', '/docs/yaml', '/docsfoo', '/docs/nothing']) {
        assert.equal((await call(server.url, 'GET', path)).headers.get('cache-control'), 'no-store', path);
      }
      for (const path of ['/docs', '/docs/static/swagger-ui.css']) {
        const res = await call(server.url, 'GET', path);
        assert.equal(res.status, 200, path);
        assert.notEqual(res.headers.get('cache-control'), 'no-store', path);
      }
    });
  });

  describe('GET /docs', () => {
    it('answers HTML whose every script, stylesheet and icon this server serves itself', async () => {
      const page = await fetch(`${server.url}/docs`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      const html = await page.text();
      const refs = [...html.matchAll(/<(?:script|link|img)\b[^>]*?\b(?:src|href)=["']([^"']+)["']/gi)].map((m) => m[1]);
      assert.ok(refs.some((r) => /\.js(\?|$)/.test(r)) && refs.some((r) => /\.css(\?|$)/.test(r)), `scripts and stylesheets referenced: ${refs}`);
      const base = new URL(page.url.endsWith('/') ? page.url : `${page.url}/`);
      const origin = new URL(server.url).origin;
      for (const ref of refs) {
        const url = new URL(ref, base);
        assert.equal(url.origin, origin, `${ref} is served here, not by another host`);
        const asset = await fetch(url);
        assert.equal(asset.status, 200, `${ref} answers`);
        const body = await asset.text();
        assert.ok(body.length > 0, `${ref} has content`);
        if (ref.endsWith('.css')) {
          for (const m of body.matchAll(/url\(\s*["']?(https?:)?\/\/([^/"')]+)/g)) assert.equal(m[2], new URL(server.url).host, `${ref} loads from ${m[2]}`);
        }
        if (ref.endsWith('initializer.js')) {
          // The code (not its comments) names no other host, and loads this server's document.
          const code = body
            .split('\n')
            .filter((line) => !line.trim().startsWith('//'))
            .join('\n');
          assert.deepEqual(code.match(/https?:\/\/[^\s'"`)]+/g) ?? [], []);
          assert.match(code, /url:\s*resolveUrl\('\.\/json'\)/);
        }
      }
      assert.deepEqual(html.match(/https?:\/\/[^\s'"<>]+/g) ?? [], [], 'the page itself names no other host');
    });
  });

  describe('ops endpoints, without a credential', () => {
    it('GET /healthz answers 200 ok', async () => {
      const res = await call(server.url, 'GET', '/healthz');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { status: 'ok' });
    });

    it('GET /readyz answers 200 with the database checked', async () => {
      const res = await call(server.url, 'GET', '/readyz');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { status: 'ok', checks: { database: 'ok' } });
    });

    it('GET /metrics needs the admin scope', async () => {
      assert.equal((await call(server.url, 'GET', '/metrics')).status, 401);
      const res = await call(server.url, 'GET', '/metrics', { key: await server.mintKey(['admin']) });
      assert.equal(res.status, 200);
      assert.match(res.text, /^# HELP /m);
      assert.match(res.text, /roster_http_request_duration_seconds/);
    });
  });
});
