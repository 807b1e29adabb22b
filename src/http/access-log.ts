import type { FastifyReply, FastifyRequest } from 'fastify';
import { routeOf } from './route-of.js';

/**
 * onResponse: one JSON line per request. It names the route pattern, never the URL (query
 * strings carry emails) nor any header (they carry credentials).
 */
export async function accessLog(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  request.log.info(
    {
      method: request.method,
      route: routeOf(request).url ?? null,
      status: reply.statusCode,
      latency_ms: Math.round(reply.elapsedTime * 100) / 100,
      credential: request.principal?.id ?? null,
    },
    'request',
  );
}
