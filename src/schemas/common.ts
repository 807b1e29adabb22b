import Type, { type TSchema } from 'typebox';

/**
 * Wire shapes shared by every resource. Custom keywords (`x-…`) are read by http/validation.ts:
 * `x-error-message` replaces the generic message of a failed `pattern` or `format`,
 * `x-field-messages` names why a field is not accepted, `x-max-bytes` bounds a serialized object,
 * `x-max-merged-bytes` what a merge patch adds (itself without its null members).
 */

export const Timestamp = Type.String({
  format: 'date-time',
  maxLength: 20,
  description: 'RFC 3339 in UTC with whole seconds.',
  examples: ['2023-01-01T12:00:00Z'],
});

/** A string or null, as one JSON Schema type list (clearer errors than a union). */
export function NullableString(options: Record<string, unknown>) {
  return Type.Unsafe<string | null>({ type: ['string', 'null'], ...options });
}

export function NullableTimestamp(description: string) {
  return NullableString({ format: 'date-time', maxLength: 20, description });
}

export const ErrorBody = Type.Object(
  {
    error: Type.String({ maxLength: 64, description: 'Machine-readable error code (API.md §4).', examples: ['validation_error'] }),
    message: Type.String({ maxLength: 1000, description: 'Human-readable explanation.', examples: ['Invalid request parameters'] }),
    details: Type.Optional(
      Type.Record(Type.String({ maxLength: 200 }), Type.Array(Type.String({ maxLength: 1000 })), {
        description: 'For validation errors: every invalid field with its messages.',
      }),
    ),
  },
  { additionalProperties: false, description: 'The error body of every endpoint.' },
);

/** Each error status: what the document says of it, its code, and a message the API gives for it. */
const errorStatuses: Record<number, { description: string; code: string; example: string }> = {
  400: { description: 'Invalid request parameters (`validation_error`); `details` names every invalid field.', code: 'validation_error', example: 'Invalid request parameters' },
  401: { description: 'Missing, unknown, revoked, expired or malformed credential (`unauthorized`).', code: 'unauthorized', example: 'Invalid, expired or revoked credential' },
  403: { description: 'The credential lacks the required scope (`insufficient_scope`).', code: 'insufficient_scope', example: "This request requires the 'write' scope" },
  404: { description: 'Not found (`not_found`).', code: 'not_found', example: 'Not found' },
  409: { description: 'Conflict with existing data (`conflict`).', code: 'conflict', example: 'A request with this Idempotency-Key is still in progress; retry after it completes' },
  412: { description: '`If-Match` does not match the current ETag (`precondition_failed`).', code: 'precondition_failed', example: 'The user has changed since the ETag given in If-Match' },
  413: { description: 'Body over 64 KiB (`payload_too_large`).', code: 'payload_too_large', example: 'Request body is larger than 64 KiB' },
  415: { description: 'Body is not `application/json` (`unsupported_media_type`).', code: 'unsupported_media_type', example: 'Content-Type must be application/json' },
  422: {
    description: '`Idempotency-Key` reused with a different body (`idempotency_key_reused`).',
    code: 'idempotency_key_reused',
    example: 'This Idempotency-Key was already used with a different request; use a new key for a new request',
  },
  429: { description: 'Rate limit exceeded (`rate_limit_exceeded`); see `Retry-After`.', code: 'rate_limit_exceeded', example: 'Rate limit of 600 requests per minute exceeded' },
  500: { description: 'Internal error (`internal_error`); nothing internal is disclosed.', code: 'internal_error', example: 'Internal error; reference req_3k2j4h5g6f7d8s9a' },
  503: {
    description: 'The database cannot be reached or cannot write (`service_unavailable`); see `Retry-After`.',
    code: 'service_unavailable',
    example: 'The service cannot reach its database; retry shortly',
  },
};

function errorBodyFor(status: number, message: string | undefined): TSchema {
  const { description, code, example } = errorStatuses[status];
  const { details } = ErrorBody.properties;
  return Type.Object(
    {
      error: Type.String({ maxLength: 64, description: 'Machine-readable error code (API.md §4).', examples: [code] }),
      message: Type.String({ maxLength: 1000, description: 'Human-readable explanation.', examples: [message ?? example] }),
      details: status === 400 ? Type.Optional({ ...details, examples: [{ email: ['Invalid email format'] }] }) : details,
    },
    { additionalProperties: false, description },
  );
}

/** Error responses every authenticated endpoint may give. */
const AUTHENTICATED = [401, 403, 429, 500, 503];
/** … and those of an endpoint that reads a body. */
const WITH_BODY = [400, 413, 415];

/**
 * The error responses of an operation: those of every authenticated one, those of one that may be
 * sent a body (`body`: every POST, PUT, PATCH and DELETE, since one that takes none refuses it),
 * and `statuses`. `messages` gives the operation's own example message for a status.
 */
export function errorResponses(statuses: number[], opts: { body?: boolean; messages?: Partial<Record<number, string>> } = {}): Record<number, TSchema> {
  const all = new Set([...AUTHENTICATED, ...(opts.body ? WITH_BODY : []), ...statuses]);
  const out: Record<number, TSchema> = {};
  for (const status of [...all].sort()) out[status] = errorBodyFor(status, opts.messages?.[status]);
  return out;
}

export const Cursor = Type.String({ maxLength: 200, description: 'Opaque cursor from the previous page’s `next_cursor`.' });

export const Limit = Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1 to 100.' });

export function Page<T extends TSchema>(item: T, description: string) {
  return Type.Object(
    {
      data: Type.Array(item),
      has_more: Type.Boolean({ description: 'Whether another page follows.' }),
      next_cursor: NullableString({ maxLength: 200, description: 'Pass as `cursor` for the next page; null on the last.' }),
    },
    { additionalProperties: false, description },
  );
}

export const Scope = Type.Union([Type.Literal('read'), Type.Literal('write'), Type.Literal('admin')], {
  description: '`read` (GET), `write` (changes users; implies read), `admin` (credentials, webhooks, metrics; implies both).',
});
