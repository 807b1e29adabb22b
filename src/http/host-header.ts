import type { FastifyRequest } from 'fastify';
import { validationError } from '../errors.js';
import { headerCount } from './raw-headers.js';

/**
 * onRequest: RFC 9112 §3.2 wants a 400 for an HTTP/1.1 request with no `Host`, or with more than
 * one (two hosts are a way to make a proxy and this server disagree on the target). Node's own
 * check answers a bare 400 with no body or request id, so it is off and this one answers in the
 * API's error body.
 */
export async function requireOneHost(request: FastifyRequest): Promise<void> {
  const hosts = headerCount(request.raw.rawHeaders, 'host');
  if (hosts > 1) throw validationError({ Host: ['Must be given once'] });
  if (hosts === 0 && request.raw.httpVersion !== '1.0') throw validationError({ Host: ['Required in HTTP/1.1'] });
}
