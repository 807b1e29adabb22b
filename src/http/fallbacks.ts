import FindMyWay, { type HTTPMethod } from 'find-my-way';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';
import { sendError } from './errors.js';

/**
 * Unknown paths answer 404; a known path with the wrong method answers 405 with `Allow`, which
 * Fastify alone cannot tell apart. Registered before the routes, to see each one.
 */
export function registerFallbacks(app: FastifyInstance): void {
  const known = FindMyWay();
  const methods = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      methods.add(method);
      known.on(method as HTTPMethod, route.url, () => {});
    }
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const allowed = [...methods].filter((m) => known.find(m as HTTPMethod, path));
    if (allowed.length > 0) {
      return sendError(reply, new AppError('method_not_allowed', `Method ${request.method} not allowed on this path`, undefined, { allow: allowed.sort().join(', ') }));
    }
    return sendError(reply, new AppError('not_found', 'Route not found'));
  });
}
