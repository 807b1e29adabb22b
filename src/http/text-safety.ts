import type { FastifyRequest } from 'fastify';
import { type ErrorDetails, validationError } from '../errors.js';

// PostgreSQL text and jsonb cannot hold U+0000, and UTF-8 cannot encode an unpaired surrogate
// (JSON's \ud800 escape can still send one): such input would fail in the database (a 500) or
// be silently replaced, so it is refused before validation, naming the field that holds it.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const MESSAGE = 'Must not contain NUL characters or unpaired surrogates';

/** Whether any string in `value`, at any depth, keys included, is unstorable (iterative: bodies nest deeply). */
function holdsUnstorable(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return true;
    } else if (Array.isArray(v)) {
      stack.push(...v);
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, inner] of Object.entries(v)) {
        if (UNSTORABLE.test(k)) return true;
        stack.push(inner);
      }
    }
  }
  return false;
}

/** preValidation: every string of the path, the query and the body. */
export async function rejectUnstorableText(request: FastifyRequest): Promise<void> {
  const details: ErrorDetails = {};
  for (const part of [request.params, request.query, request.body]) {
    if (typeof part !== 'object' || part === null || Array.isArray(part)) continue;
    for (const [field, value] of Object.entries(part)) {
      if (UNSTORABLE.test(field) || holdsUnstorable(value)) details[field] ??= [MESSAGE];
    }
  }
  if (Object.keys(details).length > 0) throw validationError(details);
}
