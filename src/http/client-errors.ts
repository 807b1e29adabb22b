import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { randomId } from '../adapters/ids.js';
import { AppError, validationError } from '../errors.js';
import { bodyOf } from './errors.js';

function answerFor(code: string | undefined): AppError {
  if (code === 'HPE_HEADER_OVERFLOW') return new AppError('request_header_fields_too_large', 'The request line and headers are larger than the server accepts');
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new AppError('request_timeout', 'The request did not arrive in time');
  return validationError({ request: ['Malformed HTTP request'] });
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses before any route sees it (a
 * request line or headers too large, a malformed request, a request too slow) is answered in the
 * API's error body, with the headers every answer carries, and the connection closed. The
 * request's headers were not read, so its id is a new one.
 */
export function answerClientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has no one left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const error = answerFor(err.code);
  const requestId = randomId('req_', 16);
  // The access log's line for it, as for any request (the id is what the caller was given).
  this.log.info({ request_id: requestId, method: null, route: null, status: error.status, latency_ms: null, credential: null, reason: err.code ?? null }, 'request');
  if (socket.writable) {
    const body = JSON.stringify(bodyOf(error));
    socket.write(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
