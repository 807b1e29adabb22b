import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * onRequest: headers suited to an API. Responses hold personal data and secrets, so no cache may
 * keep them; the interactive docs alone are static and cacheable.
 */
export async function responseHeaders(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.header('x-request-id', request.id);
  reply.header('x-content-type-options', 'nosniff');
  if (!request.url.startsWith('/docs')) reply.header('cache-control', 'no-store');
}
