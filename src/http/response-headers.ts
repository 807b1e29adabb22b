import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * onRequest: headers suited to an API. Responses hold personal data and secrets, so no cache may
 * keep them; the interactive docs alone are static and cacheable.
 */
export async function responseHeaders(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.header('x-request-id', request.id);
  reply.header('x-content-type-options', 'nosniff');
  if (!isDocsPage(request.url)) reply.header('cache-control', 'no-store');
}

/** The interactive reference's page and its static assets; not `/docs/json`, nor a 404 under `/docs…`. */
function isDocsPage(url: string): boolean {
  const end = url.indexOf('?');
  const path = end < 0 ? url : url.slice(0, end);
  return path === '/docs' || path === '/docs/' || path.startsWith('/docs/static/');
}
