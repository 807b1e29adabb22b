import FindMyWay, { type HTTPMethod } from 'find-my-way';
import type { FastifyError, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { AppError, validationError } from '../errors.js';
import type { Scope } from '../services/auth.js';
import { accessLog } from './access-log.js';
import { internalError, sendError, unavailableAnswer } from './errors.js';
import { assignRoute } from './route-of.js';

type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * Fastify's `frameworkErrors`: a URL the router cannot take apart (broken percent-encoding, a
 * path parameter over `maxParamLength`) is answered here, before any hook has run. The route it
 * names is still found, with its escapes left undecoded and no length limit, so that a secured
 * route's `guards` (authentication, rate limit, scope) come first, as on any request: a caller
 * without a credential gets 401, not 400, and an authenticated answer carries X-RateLimit-* and
 * counts against the credential's budget.
 */
export function createBadUrlAnswer(guards: Guard[]) {
  const routes = FindMyWay({ maxParamLength: Number.MAX_SAFE_INTEGER });

  function routeNamed(request: FastifyRequest): { url: string; scope: Scope } | null {
    const path = request.url.split('?')[0].replaceAll('%', '%25');
    const found = routes.find(request.method as HTTPMethod, path);
    return (found?.store as { url: string; scope: Scope } | undefined) ?? null;
  }

  async function answer(err: FastifyError, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    reply.header('x-request-id', request.id).header('x-content-type-options', 'nosniff').header('cache-control', 'no-store');
    const why = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'A path segment is too long' : 'Malformed URL encoding';
    let refusal: AppError = validationError({ path: [why] });
    const route = routeNamed(request);
    if (route) {
      assignRoute(request, { ...request.routeOptions, url: route.url, config: { ...request.routeOptions.config, scope: route.scope } });
      try {
        for (const guard of guards) await guard(request, reply);
      } catch (guardErr) {
        refusal = guardErr instanceof AppError ? guardErr : (unavailableAnswer(guardErr as FastifyError, request) ?? internalError(request, guardErr));
      }
    }
    sendError(reply, refusal);
    // No onResponse hook runs for these requests either: their access line is written here.
    void accessLog(request, reply);
  }

  return {
    /** onRoute: remembers each secured route's pattern and scope. */
    onRoute(route: RouteOptions): void {
      const scope = route.config?.scope;
      if (!scope) return;
      for (const method of [route.method].flat()) routes.on(method as HTTPMethod, route.url, () => {}, { url: route.url, scope });
    },
    frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
      answer(err, request, reply).catch((failure: unknown) => {
        if (!reply.sent) sendError(reply, internalError(request, failure));
      });
      return reply;
    },
  };
}
