import Type, { type TSchema } from 'typebox';

/**
 * Wire shapes shared by every resource. Custom keywords (`x-…`) are read by http/validation.ts:
 * `x-error-message` replaces the generic message of a failed `pattern` or `format`,
 * `x-field-messages` names why a field is not accepted, `x-max-bytes` bounds a serialized object.
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

const statusDescriptions: Record<number, string> = {
  400: 'Invalid request parameters (`validation_error`); `details` names every invalid field.',
  401: 'Missing, unknown, revoked, expired or malformed credential (`unauthorized`).',
  403: 'The credential lacks the required scope (`insufficient_scope`).',
  404: 'Not found (`not_found`).',
  409: 'Conflict with existing data (`conflict`).',
  412: '`If-Match` does not match the current ETag (`precondition_failed`).',
  413: 'Body over 64 KiB (`payload_too_large`).',
  415: 'Body is not `application/json` (`unsupported_media_type`).',
  422: '`Idempotency-Key` reused with a different body (`idempotency_key_reused`).',
  429: 'Rate limit exceeded (`rate_limit_exceeded`); see `Retry-After`.',
  500: 'Internal error (`internal_error`); nothing internal is disclosed.',
  503: 'The database cannot be reached or cannot write (`service_unavailable`); see `Retry-After`.',
};

/** Error responses every authenticated endpoint may give. */
const AUTHENTICATED = [401, 403, 429, 500, 503];
/** … and those of an endpoint that reads a body. */
const WITH_BODY = [400, 413, 415];

export function errorResponses(statuses: number[], opts: { body?: boolean } = {}): Record<number, TSchema> {
  const all = new Set([...AUTHENTICATED, ...(opts.body ? WITH_BODY : []), ...statuses]);
  const out: Record<number, TSchema> = {};
  for (const status of [...all].sort()) {
    out[status] = Type.Object(ErrorBody.properties, { additionalProperties: false, description: statusDescriptions[status] });
  }
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
