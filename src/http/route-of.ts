import type { FastifyRequest } from 'fastify';

type RouteOptions = FastifyRequest['routeOptions'];

const routes = new WeakMap<FastifyRequest, RouteOptions>();

/**
 * The matched route's options, read once per request. Fastify's `request.routeOptions` builds a
 * new object of a dozen fields on every read, and the hooks of one request read it five times.
 */
export function routeOf(request: FastifyRequest): RouteOptions {
  let route = routes.get(request);
  if (route === undefined) routes.set(request, (route = request.routeOptions));
  return route;
}

/** Sets the route options of a request that Fastify could not route (a malformed URL), for the hooks that read them. */
export function assignRoute(request: FastifyRequest, route: RouteOptions): void {
  routes.set(request, route);
}
