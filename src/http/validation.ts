import { Ajv, type ErrorObject } from 'ajv';
import formats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { ErrorDetails } from '../errors.js';
import { passwordPolicyErrors } from '../services/passwords.js';

// ajv-formats is CommonJS: under ESM its function is the default export's `default`.
const addFormats = (formats as unknown as { default: (ajv: Ajv) => Ajv }).default;

/**
 * Two Ajv instances: bodies are validated as sent (a number is not silently a string), while
 * query strings and path parameters, which are always text, are coerced to their declared types.
 * `allErrors` lets the 400 name every invalid field, as the seed's `details` does.
 */
export function createValidatorCompiler(roles: readonly string[]): FastifySchemaCompiler<unknown> {
  const make = (coerce: boolean) => {
    const ajv = new Ajv({ allErrors: true, coerceTypes: coerce, useDefaults: true, removeAdditional: false, verbose: true, strict: false });
    addFormats(ajv);
    ajv.addFormat('email', { type: 'string', validate: isEmailAddress });
    ajv.addFormat('role', { type: 'string', validate: (v: string) => roles.includes(v) });
    ajv.addKeyword({
      keyword: 'x-max-bytes',
      type: 'object',
      schemaType: 'number',
      validate: (max: number, data: unknown) => byteLengthWithin(data, max),
    });
    ajv.addKeyword({
      keyword: 'x-max-merged-bytes',
      type: 'object',
      schemaType: 'number',
      validate: (max: number, data: unknown) => byteLengthWithin(data, max, withoutRemovals),
    });
    ajv.addKeyword({
      keyword: 'x-max-depth',
      type: 'object',
      schemaType: 'number',
      validate: (max: number, data: unknown) => depthOf(data, max) <= max,
    });
    ajv.addKeyword({ keyword: 'x-password-policy', type: 'object', schemaType: 'boolean', errors: true, validate: passwordPolicy });
    return ajv;
  };
  const bodies = make(false);
  const text = make(true);
  return ({ schema, httpPart }) => (httpPart === 'body' ? bodies : text).compile(schema as object);
}

/**
 * `x-password-policy` on a body holding a password with the email and username it may not equal:
 * the service's rule, checked with the schema so that a 400 names it beside every other invalid
 * field instead of in a second 400 once those are fixed.
 */
function passwordPolicy(this: unknown, _on: boolean, data: Record<string, unknown>): boolean {
  const { password, email, username } = data;
  if (typeof password !== 'string' || typeof email !== 'string' || typeof username !== 'string') return true;
  const problems = passwordPolicyErrors(password, { email, username });
  (passwordPolicy as { errors?: Partial<ErrorObject>[] }).errors = problems.map((message) => ({ keyword: 'x-password-policy', instancePath: '/password', params: {}, message }));
  return problems.length === 0;
}

const ajvEmail = (formats as unknown as { default: { get(name: string): RegExp } }).default.get('email');

/**
 * ajv-formats' address syntax, within SMTP's limits (RFC 5321 §4.5.3.1): a local part of at most
 * 64 octets and domain labels of at most 63 (RFC 1035), which the syntax alone lets through.
 */
export function isEmailAddress(value: string): boolean {
  if (!ajvEmail.test(value)) return false;
  const at = value.lastIndexOf('@');
  return at <= 64 && value.slice(at + 1).split('.').every((label) => label.length <= 63);
}

/**
 * Whether `data` serializes within `max` bytes. A value nested too deep for JSON.stringify's
 * recursion is left to `x-max-depth`, which names the actual problem.
 */
function byteLengthWithin(data: unknown, max: number, part: (data: unknown) => unknown = (d) => d): boolean {
  try {
    return Buffer.byteLength(JSON.stringify(part(data))) <= max;
  } catch {
    return true;
  }
}

/**
 * An RFC 7396 merge patch without the members it removes (null): its result holds at least
 * that, whatever it is merged into, so a patch whose remainder is over a bound is refused with
 * the other invalid fields, before the stored value is read.
 */
function withoutRemovals(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  // Null prototype: a key such as `__proto__` stays a plain member.
  const kept: Record<string, unknown> = Object.create(null);
  for (const [key, member] of Object.entries(value)) if (member !== null) kept[key] = withoutRemovals(member);
  return kept;
}

/**
 * How deeply objects and arrays nest in `data` (an empty object is 1), counted without recursion
 * and giving up past `limit`: a 64 KiB body can nest 30,000 levels, enough to overflow any
 * recursive walk (JSON.stringify included) further down.
 */
export function depthOf(data: unknown, limit: number): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[data, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return deepest;
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return deepest;
}

const article = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);
const typeNames: Record<string, string> = { null: 'null', object: 'object', array: 'array', integer: 'integer', number: 'number', string: 'string', boolean: 'boolean' };

function describeType(type: unknown): string {
  const types = (Array.isArray(type) ? type : [type]).map((t) => typeNames[String(t)] ?? String(t));
  return types.map((t) => (t === 'null' ? 'null' : article(t))).join(' or ');
}

function messageOf(e: ErrorObject, roles: readonly string[]): string {
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type':
      return `Must be ${describeType(params.type)}`;
    case 'format':
      if (typeof parent['x-error-message'] === 'string') return parent['x-error-message'];
      if (params.format === 'email') return 'Invalid email format';
      if (params.format === 'role') return `Must be one of: ${roles.join(', ')}`;
      if (params.format === 'date-time') return 'Must be an RFC 3339 date-time, e.g. 2023-01-01T12:00:00Z';
      return `Must be a valid ${String(params.format)}`;
    case 'pattern':
      return typeof parent['x-error-message'] === 'string' ? parent['x-error-message'] : 'Invalid format';
    case 'maxLength':
      return `Must be at most ${params.limit} characters`;
    case 'minLength':
      return params.limit === 1 ? 'Must not be empty' : `Must be at least ${params.limit} characters`;
    case 'minimum':
      return `Must be at least ${params.limit}`;
    case 'maximum':
      return `Must be at most ${params.limit}`;
    case 'enum':
      return `Must be one of: ${(params.allowedValues as unknown[]).join(', ')}`;
    case 'minItems':
      return `Must have at least ${params.limit} item${params.limit === 1 ? '' : 's'}`;
    case 'maxItems':
      return `Must have at most ${params.limit} items`;
    case 'uniqueItems':
      return 'Must not contain duplicates';
    case 'x-max-bytes':
    case 'x-max-merged-bytes':
      return `Must be at most ${String(e.schema)} bytes when serialized`;
    case 'x-max-depth':
      return `Must not nest objects and arrays more than ${String(e.schema)} levels deep`;
    case 'anyOf': {
      // A union of literals (a status, a scope) is an enum: name its values.
      const branches = Array.isArray(e.schema) ? (e.schema as Array<Record<string, unknown>>) : [];
      if (branches.length > 0 && branches.every((b) => 'const' in b)) return `Must be one of: ${branches.map((b) => String(b.const)).join(', ')}`;
      return e.message ?? 'Invalid value';
    }
    default:
      return e.message ?? 'Invalid value';
  }
}

/**
 * Ajv's errors → the seed's `details`: the top-level field name → its messages. An error on the
 * whole body (not an object) is reported under `body`.
 */
export function validationDetails(errors: ErrorObject[], context: string, roles: readonly string[]): ErrorDetails {
  // Null prototype: a field may be called `__proto__`, and must then be a plain key.
  const details: ErrorDetails = Object.create(null);
  const add = (field: string, message: string) => {
    const list = (details[field] ??= []);
    if (!list.includes(message)) list.push(message);
  };
  for (const e of errors) {
    // Each literal of a union fails on its own; the union's error names them all.
    if (e.keyword === 'const' && /\/anyOf\/\d+\/const$/.test(e.schemaPath)) continue;
    const path = e.instancePath.split('/').slice(1);
    const params = e.params as Record<string, unknown>;
    if (e.keyword === 'additionalProperties' && path.length === 0) {
      const field = String(params.additionalProperty);
      const known = (e.parentSchema as Record<string, unknown> | undefined)?.['x-field-messages'] as Record<string, string> | undefined;
      add(field, known && Object.hasOwn(known, field) ? known[field] : context === 'querystring' ? 'Unknown parameter' : 'Unknown field');
    } else if (e.keyword === 'required' && path.length === 0) {
      add(String(params.missingProperty), 'Required');
    } else if (path.length === 0) {
      add(context === 'body' ? 'body' : context, e.keyword === 'type' && context === 'body' ? 'Must be a JSON object' : messageOf(e, roles));
    } else {
      const field = decodeURIComponent(path[0].replaceAll('~1', '/').replaceAll('~0', '~'));
      // Header names arrive lower-cased; they are named as they are written (Idempotency-Key).
      add(context === 'headers' ? field.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase()) : field, messageOf(e, roles));
    }
  }
  return details;
}
