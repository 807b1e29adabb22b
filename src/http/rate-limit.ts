import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Limiter } from '../adapters/limiter.js';
import { AppError } from '../errors.js';
import { partitionOf } from '../services/auth.js';

const WINDOW_SECONDS = 60;

/**
 * onRequest, after authentication: one budget per credential per minute (the credential's own
 * limit or the default), reported on every authenticated response.
 */
export function rateLimit(limiter: Limiter, defaultPerMinute: number) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const principal = request.principal;
    if (!principal) return;
    const result = await limiter.consume(`credential:${partitionOf(principal)}`, principal.rateLimitPerMinute ?? defaultPerMinute, WINDOW_SECONDS);
    reply.header('x-ratelimit-limit', result.limit);
    reply.header('x-ratelimit-remaining', result.remaining);
    reply.header('x-ratelimit-reset', result.resetAt);
    if (!result.allowed) {
      const retryAfter = Math.max(1, result.resetAt - Math.floor(Date.now() / 1000));
      throw new AppError('rate_limit_exceeded', `Rate limit of ${result.limit} requests per minute exceeded`, undefined, { 'retry-after': String(retryAfter) });
    }
  };
}
