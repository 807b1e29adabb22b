import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, VALIDATION_MESSAGE, validationError } from '../errors.js';
import { validationDetails } from './validation.js';

/** The contract's error body (API.md §4) of `err`. */
export function bodyOf(err: AppError): Record<string, unknown> {
  return err.details ? { error: err.code, message: err.message, details: err.details } : { error: err.code, message: err.message };
}

/** Maps a framework error (parsing, limits) to the contract's codes; null when it is not one. */
function fromFramework(err: FastifyError, roles: readonly string[]): AppError | null {
  if (err.validation) return validationError(validationDetails(err.validation as never, err.validationContext ?? 'body', roles));
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large', 'Request body is larger than 64 KiB');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('unsupported_media_type', 'Content-Type must be application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return validationError({ body: ['Must not be empty'] });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return validationError({ body: ['Content-Length does not match the body'] });
  }
  // Malformed JSON arrives as a SyntaxError with status 400.
  if (err.statusCode === 400 || err instanceof SyntaxError) return validationError({ body: ['Malformed JSON'] });
  return null;
}

/** Seconds a client is asked to wait when the database cannot be reached. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
// node-postgres reports a lost or unobtainable connection without a code, only in the message.
const CONNECTION_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|not queryable/i;

/**
 * Whether the error says the database is out of reach (down, restarting, overloaded), not that
 * the request or the code is wrong: refused or reset connections, the pool's connect timeout,
 * SQLSTATE classes 08 (connection exception) and 57P01–57P03 (shut down, cannot connect now),
 * 53300 (too many connections) and 57014 (statement timeout), any PostgreSQL FATAL error (a session
 * refused or ended by the server), and SQLite's write lock not had
 * within busy_timeout (SQLITE_BUSY and its extended codes). Such errors answer 503 with
 * Retry-After; the pool opens fresh connections once the database is back.
 */
export function isUnavailableError(err: unknown): boolean {
  for (const e of causes(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (CONNECTION_CODES.has(code) || code.startsWith('08') || code.startsWith('SQLITE_BUSY') || ['57P01', '57P02', '57P03', '53300', '57014'].includes(code)) return true;
    }
    // PostgreSQL ends a session, or refuses one at its start, with a FATAL error, whatever its
    // SQLSTATE: 55000 for a database not accepting connections (ALLOW_CONNECTIONS false), 57P04
    // for one dropped. The database is then out of reach from this connection, not the request wrong.
    const severity = (e as { severity?: unknown }).severity;
    if (severity === 'FATAL' || severity === 'PANIC') return true;
    if (e instanceof AggregateError && e.errors.some((inner) => isUnavailableError(inner))) return true;
    if (CONNECTION_MESSAGES.test(e.message)) return true;
  }
  return false;
}

/** The error and the errors it was caused by, up to five deep (drivers wrap what they report). */
function* causes(err: unknown): Generator<Error> {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) yield e;
}

/**
 * Whether the error says the database cannot take writes for a reason an operator must see to:
 * the disk is full or failing, the file became read-only, or a PostgreSQL server turned standby
 * after a failover (SQLSTATE 25006, 53100 disk full, 58030 I/O error). Reads may still work.
 */
export function isCannotWriteError(err: unknown): boolean {
  for (const e of causes(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_READONLY')) return true;
    if (code === '25006' || code === '53100' || code === '58030') return true;
  }
  return false;
}

export function serviceUnavailable(message = 'The service cannot reach its database; retry shortly'): AppError {
  return new AppError('service_unavailable', message, undefined, {
    'retry-after': String(UNAVAILABLE_RETRY_AFTER_SECONDS),
  });
}

/**
 * The 503 to answer when `err` says the database is out of reach (logged as a warning: an outage
 * is not a bug) or cannot write, or undefined when it says something else.
 */
export function unavailableAnswer(err: FastifyError, request: FastifyRequest): AppError | undefined {
  if (isCannotWriteError(err)) {
    // Unlike an outage, this does not mend itself: logged as an error, for the operator.
    request.log.error({ err: { message: err.message, code: err.code } }, 'database cannot write');
    return serviceUnavailable('The service cannot write to its database; retry later');
  }
  if (!isUnavailableError(err)) return undefined;
  request.log.warn({ err: { message: err.message, code: err.code } }, 'database unavailable');
  return serviceUnavailable();
}

export function sendError(reply: FastifyReply, err: AppError): FastifyReply {
  if (err.headers) reply.headers(err.headers);
  // Refused before its body was read (a 401 from the headers alone): Node would keep the
  // connection to read and drop the rest, and a body that never comes would then earn a second
  // answer, a 408, to a request already answered. The connection closes after this answer.
  if (!reply.request.raw.complete) reply.header('connection', 'close');
  return reply.code(err.status).type('application/json; charset=utf-8').send(bodyOf(err));
}

/** The one error handler: the contract's body for every failure; a bug answers 500 and leaks nothing. */
export function errorHandler(roles: readonly string[]) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const known = err instanceof AppError ? err : fromFramework(err, roles);
    if (known) return sendError(reply, known);
    const unavailable = unavailableAnswer(err, request);
    if (unavailable) return sendError(reply, unavailable);
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return sendError(reply, new AppError('validation_error', VALIDATION_MESSAGE, { request: [err.message] }));
    }
    return sendError(reply, internalError(request, err));
  };
}

/** A bug: logged with the request id, which the answer gives and nothing else of it. */
export function internalError(request: FastifyRequest, err: unknown): AppError {
  request.log.error({ err }, 'unhandled error');
  return new AppError('internal_error', `Internal error; reference ${request.id}`);
}
