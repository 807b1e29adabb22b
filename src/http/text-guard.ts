import type { FastifyRequest } from 'fastify';
import { type ErrorDetails, validationError } from '../errors.js';
import { routeOf } from './route-of.js';

// With the `u` flag a paired surrogate is one code point, so this matches only unpaired ones.
const UNPAIRED_SURROGATE = /\p{Surrogate}/u;

const NUL_MESSAGE = 'Must not contain the NUL character (U+0000)';
const SURROGATE_MESSAGE = 'Must be well-formed Unicode (no unpaired surrogate)';
const INFINITE_MESSAGE = 'Numbers must be finite';

function problemOf(value: unknown): string | null {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return NUL_MESSAGE;
    if (UNPAIRED_SURROGATE.test(value)) return SURROGATE_MESSAGE;
  } else if (typeof value === 'number' && !Number.isFinite(value)) {
    return INFINITE_MESSAGE;
  }
  return null;
}

/**
 * The first problem anywhere inside `value` (keys included). Iterative, not recursive: a body
 * may nest thousands of levels deep within 64 KiB, and this must not overflow the stack.
 */
function firstProblem(value: unknown): string | null {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    const problem = problemOf(v);
    if (problem) return problem;
    if (Array.isArray(v)) for (const item of v) stack.push(item);
    else if (typeof v === 'object' && v !== null) {
      for (const key of Object.keys(v)) {
        const keyProblem = problemOf(key);
        if (keyProblem) return keyProblem;
        stack.push((v as Record<string, unknown>)[key]);
      }
    }
  }
  return null;
}

function check(part: unknown, whole: string, details: ErrorDetails): void {
  if (typeof part !== 'object' || part === null || Array.isArray(part)) {
    const problem = firstProblem(part);
    if (problem) (details[whole] ??= []).push(problem);
    return;
  }
  for (const key of Object.keys(part)) {
    const problem = problemOf(key) ?? firstProblem((part as Record<string, unknown>)[key]);
    if (problem) (details[key] ??= []).push(problem);
  }
}

const MALFORMED_ENCODING = 'Malformed URL encoding';

function decoded(component: string): string | null {
  try {
    return decodeURIComponent(component.replaceAll('+', ' '));
  } catch {
    return null;
  }
}

/**
 * The query parser keeps a malformed escape (`%ZZ`, or bytes that are not UTF-8, as `%E9`) as its
 * raw text, so `q=%E9` would search for the three characters `%E9`: refused instead, under the
 * parameter's name when that can be read.
 */
function checkQueryEncoding(url: string, details: ErrorDetails): void {
  const start = url.indexOf('?');
  if (start < 0 || !url.includes('%', start)) return;
  for (const pair of url.slice(start + 1).split('&')) {
    const eq = pair.indexOf('=');
    const key = decoded(eq < 0 ? pair : pair.slice(0, eq));
    if (key === null || (eq >= 0 && decoded(pair.slice(eq + 1)) === null)) (details[key ?? 'query'] ??= []).push(MALFORMED_ENCODING);
  }
}

/**
 * preValidation: text that no store can keep faithfully is refused before it reaches one.
 * PostgreSQL rejects NUL in text and jsonb and unpaired surrogates in jsonb (a 500 otherwise);
 * SQLite would silently turn an unpaired surrogate into U+FFFD, and JSON turns a number too
 * large for a double into null. Path parameters, query strings and bodies of every route alike;
 * a query string must also be well-formed percent-encoded UTF-8.
 */
export async function rejectUnstorableText(request: FastifyRequest): Promise<void> {
  // Only the parts a route declares reach it (and so a store); the rest is ignored, not refused.
  const schema = (routeOf(request).schema ?? {}) as Record<string, unknown>;
  const details: ErrorDetails = Object.create(null);
  if (schema.params) check(request.params, 'path', details);
  if (schema.querystring) {
    checkQueryEncoding(request.url, details);
    check(request.query, 'query', details);
  }
  if (schema.body && request.body !== undefined) check(request.body, 'body', details);
  if (Object.keys(details).length > 0) throw validationError(details);
}
