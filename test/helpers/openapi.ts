import { Ajv, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import fc from 'fast-check';
import { errorStatus } from '../../src/errors.js';

// ajv-formats is CommonJS: under ESM its function is the default export's `default`.
const addFormats = (formats as unknown as { default: (ajv: Ajv) => Ajv }).default;

type Schema = Record<string, any>;

/** One operation of /openapi.json, as the generic tests walk them. */
export interface Operation {
  method: string;
  /** The path template, e.g. /v1/users/{user_id}. */
  path: string;
  operationId: string;
  /** Whether a credential is required (a non-empty security requirement). */
  secured: boolean;
  /** The security schemes it accepts, e.g. ['bearer']. */
  schemes: string[];
  pathParams: Schema[];
  queryParams: Schema[];
  /** Request body schemas by media type, if the operation takes a body. */
  body?: { required: boolean; content: Record<string, Schema> };
  /** Documented responses: status → body schema (null for a response without a body). */
  responses: Map<number, Schema | null>;
}

/** Every operation listed by the running server's /openapi.json. */
export async function loadOperations(baseUrl: string): Promise<{ doc: Schema; operations: Operation[] }> {
  const res = await fetch(`${baseUrl}/openapi.json`);
  if (res.status !== 200) throw new Error(`/openapi.json answered ${res.status}`);
  const doc = (await res.json()) as Schema;
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries<Schema>(doc.paths ?? {})) {
    for (const [method, op] of Object.entries<Schema>(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const security = (op.security ?? doc.security ?? []) as unknown[];
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])] as Schema[];
      const responses = new Map<number, Schema | null>();
      for (const [status, response] of Object.entries<Schema>(op.responses ?? {})) {
        const content = response.content as Record<string, Schema> | undefined;
        const first = content ? Object.values(content)[0] : undefined;
        responses.set(Number(status), first?.schema ?? null);
      }
      operations.push({
        method: method.toUpperCase(),
        path,
        operationId: op.operationId,
        secured: security.length > 0 && security.some((s) => Object.keys(s as object).length > 0),
        schemes: [...new Set(security.flatMap((s) => Object.keys(s as object)))],
        pathParams: params.filter((p) => p.in === 'path'),
        queryParams: params.filter((p) => p.in === 'query'),
        body: op.requestBody
          ? { required: Boolean(op.requestBody.required), content: Object.fromEntries(Object.entries<Schema>(op.requestBody.content).map(([t, c]) => [t, c.schema])) }
          : undefined,
        responses,
      });
    }
  }
  return { doc, operations };
}

/** Ajv set up like the server's, for checking response bodies against their documented schemas. */
export function responseAjv(roles: readonly string[]): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true });
  addFormats(ajv);
  ajv.addFormat('role', { type: 'string', validate: (v: string) => roles.includes(v) });
  return ajv;
}

const compiled = new WeakMap<Schema, ValidateFunction>();

/** Null if `body` is valid against `schema`, else Ajv's complaint. */
export function schemaProblem(ajv: Ajv, schema: Schema, body: unknown): string | null {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate(body) ? null : ajv.errorsText(validate.errors);
}

/** Whether a documented error schema is the contract's `{error, message, details?}` body. */
export function isErrorBodySchema(schema: Schema | null): boolean {
  return Boolean(schema?.properties?.error && schema.properties.message);
}

/**
 * Checks one response against its operation's documentation; returns the problems found.
 * Never a 5xx; a documented status; a body valid against that status's schema; for the
 * contract's error body, a code from API.md §4 that matches the status.
 */
export function responseProblems(ajv: Ajv, op: Operation, status: number, contentType: string | null, text: string): string[] {
  const where = `${op.method} ${op.path} → ${status}`;
  const problems: string[] = [];
  if (status >= 500) problems.push(`${where}: a 5xx: ${text.slice(0, 300)}`);
  if (!op.responses.has(status)) problems.push(`${where}: status not documented (${[...op.responses.keys()].join(', ')}): ${text.slice(0, 300)}`);
  const schema = op.responses.get(status) ?? null;
  if (status === 204 || status === 304) {
    if (text.length > 0) problems.push(`${where}: a body on a ${status}`);
    return problems;
  }
  let body: unknown = text;
  if ((contentType ?? '').includes('json')) {
    try {
      body = JSON.parse(text);
    } catch {
      problems.push(`${where}: invalid JSON: ${text.slice(0, 200)}`);
      return problems;
    }
  }
  if (schema) {
    const problem = schemaProblem(ajv, schema, body);
    if (problem) problems.push(`${where}: body does not match its schema (${problem}): ${text.slice(0, 300)}`);
  }
  if (status >= 400 && (isErrorBodySchema(schema) || !schema)) {
    const e = body as { error?: string; message?: unknown };
    if (!(contentType ?? '').startsWith('application/json')) problems.push(`${where}: error not JSON (${contentType})`);
    if (typeof e?.error !== 'string' || !(e.error in errorStatus)) problems.push(`${where}: unknown error code ${String(e?.error)}`);
    else if (errorStatus[e.error as keyof typeof errorStatus] !== status) problems.push(`${where}: code ${e.error} with status ${status}`);
    if (typeof e?.message !== 'string') problems.push(`${where}: no message`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Generators: values meant to satisfy a schema (they often do), and values that should not.

const SAFE_PATTERN_CACHE = new Map<string, RegExp>();

function regexOf(pattern: string): RegExp {
  let re = SAFE_PATTERN_CACHE.get(pattern);
  if (!re) {
    re = new RegExp(pattern, 'u');
    SAFE_PATTERN_CACHE.set(pattern, re);
  }
  return re;
}

function stringArbitrary(schema: Schema, roles: readonly string[]): fc.Arbitrary<string> {
  const min = schema.minLength ?? 0;
  const max = Math.min(schema.maxLength ?? 64, 300);
  const fit = (s: string) => s.length >= min && s.length <= max;
  if (schema.format === 'email') return fc.emailAddress().filter((s) => s.length <= max);
  if (schema.format === 'date-time') return fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z'));
  if (schema.format === 'role') return fc.constantFrom(...roles);
  if (schema.format === 'uri' || schema.format === 'url') return fc.webUrl().filter(fit);
  if (schema.pattern) {
    const re = regexOf(schema.pattern);
    return fc.stringMatching(re, { maxLength: max }).map((s) => s.slice(0, max)).filter((s) => fit(s) && re.test(s));
  }
  return fc.string({ minLength: min, maxLength: Math.min(max, 40), unit: 'grapheme' });
}

/** Values shaped after `schema` (the subset of JSON Schema TypeBox emits). */
export function valueFor(schema: Schema | undefined, roles: readonly string[], depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 4) return fc.constant(null);
  if ('const' in schema) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map((s: Schema) => valueFor(s, roles, depth + 1)));
  const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type ?? 'object'];
  return fc.oneof(
    ...types.map((type): fc.Arbitrary<unknown> => {
      switch (type) {
        case 'null':
          return fc.constant(null);
        case 'boolean':
          return fc.boolean();
        case 'integer':
          return fc.integer({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6 });
        case 'number':
          return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
        case 'string':
          return stringArbitrary(schema, roles);
        case 'array': {
          const items = valueFor(schema.items, roles, depth + 1);
          const opts = { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 5, 5) };
          return schema.uniqueItems ? fc.uniqueArray(items, { ...opts, selector: (v) => JSON.stringify(v) }) : fc.array(items, opts);
        }
        default: {
          const props = (schema.properties ?? {}) as Record<string, Schema>;
          const required = (schema.required ?? []) as string[];
          const known = Object.keys(props).length > 0 ? fc.record(Object.fromEntries(Object.entries(props).map(([k, s]) => [k, valueFor(s, roles, depth + 1)])), { requiredKeys: required.filter((k) => k in props) }) : fc.constant({});
          if (schema.additionalProperties === true || (schema.additionalProperties === undefined && Object.keys(props).length === 0)) {
            return fc.tuple(known, fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 })).map(([a, b]) => ({ ...b, ...a }));
          }
          return known;
        }
      }
    }),
  );
}

/** Strings that stress a parser: control characters, unpaired surrogates, combining marks, huge. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\ud800', '\udfff', 'e\u0301', '😀', '\u202e', '%', '%00', '%ED%A0%80', '../../etc/passwd', "' OR 1=1 --", '<script>', '{}', 'null', '-1', '1e400', 'NaN', '__proto__', 'constructor'),
  fc.string({ minLength: 250, maxLength: 400 }),
);

/** Any JSON-ish value, including the hostile ones. */
export const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  nastyString,
  fc.constantFrom(null, true, 0, -1, 1e308, -0, 2 ** 53 + 1, [], {}, [null], { __proto__: null }),
);

/** A schema-shaped object with one thing broken: a missing required field, a wrong type, an unknown key. */
export function brokenObject(schema: Schema | undefined, roles: readonly string[]): fc.Arbitrary<unknown> {
  const valid = valueFor(schema, roles);
  const props = Object.keys(schema?.properties ?? {});
  return fc.oneof(
    fc.tuple(valid, fc.constantFrom(...(props.length ? props : ['x'])), nastyValue).map(([v, k, bad]) => ({ ...(v as object), [k]: bad })),
    fc.tuple(valid, fc.string({ minLength: 1, maxLength: 20 }), nastyValue).map(([v, k, bad]) => ({ ...(v as object), [k]: bad })),
    fc.tuple(valid, fc.constantFrom(...(props.length ? props : ['x']))).map(([v, k]) => {
      const copy = { ...(v as Record<string, unknown>) };
      delete copy[k];
      return copy;
    }),
    nastyValue,
  );
}

/** Fills a path template with the given parameter values, percent-encoded. */
export function fillPath(template: string, values: Record<string, string>): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = values[name] ?? 'x';
    // "." and ".." are dot segments: a URL parser removes them before sending, so the request
    // would reach another path than the one under test. Percent-encoding them does not help
    // (%2E is a dot segment too); a prefix keeps the value invalid but on this route.
    if (value === '.' || value === '..') return `~${value}`;
    try {
      return encodeURIComponent(value);
    } catch {
      // An unpaired surrogate cannot be encoded: send the bytes a careless client would.
      return '%ED%A0%80';
    }
  });
}
