/**
 * The closed set of error codes of API.md §4 and the one table from code to HTTP status.
 * A new code is a contract change: write it in API.md first.
 */
export const errorStatus = {
  validation_error: 400,
  unauthorized: 401,
  insufficient_scope: 403,
  not_found: 404,
  method_not_allowed: 405,
  /** Only from http/client-errors.ts: Node's HTTP parser timed the request out. */
  request_timeout: 408,
  conflict: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  rate_limit_exceeded: 429,
  /** Only from http/client-errors.ts: the request line and headers are over Node's limit. */
  request_header_fields_too_large: 431,
  internal_error: 500,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** Field name → every message about it, as in the seed's `details`. */
export type ErrorDetails = Record<string, string[]>;

export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetails,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.status = errorStatus[code];
  }
}

export const VALIDATION_MESSAGE = 'Invalid request parameters';

export function validationError(details: ErrorDetails): AppError {
  return new AppError('validation_error', VALIDATION_MESSAGE, details);
}

export function notFound(message: string): AppError {
  return new AppError('not_found', message);
}

export const userNotFound = (): AppError => notFound('User not found');

/** The seed's two 409s: the store maps its unique indexes to them, the services name them when they know first. */
export const EMAIL_TAKEN = 'Email already taken';
export const USERNAME_TAKEN = 'Username already taken';

/** The address cannot be taken (in use, not this machine's, a name that does not resolve); keeps the system's code. */
export class ListenError extends Error {
  readonly code: string | undefined;
  constructor(message: string, cause: NodeJS.ErrnoException) {
    super(message, { cause });
    this.code = cause.code;
  }
}
