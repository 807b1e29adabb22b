import type { IncomingMessage } from 'node:http';
import { randomId } from '../adapters/ids.js';

// A caller's id is echoed only if it is short and plain: it goes into every log line.
const ACCEPTABLE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Fastify's genReqId: the caller's X-Request-Id when acceptable, else a new one. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  if (typeof given === 'string' && ACCEPTABLE.test(given)) return given;
  return randomId('req_', 16);
}
