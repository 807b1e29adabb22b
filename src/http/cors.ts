import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

/**
 * CORS, off unless `CORS_ORIGINS` lists the browser origins allowed to call the API. Registered
 * before authentication, so that a browser can read a 401 too and preflights need no credential.
 * Credentials travel as bearer headers, never cookies, hence no Allow-Credentials.
 */
export async function registerCors(app: FastifyInstance, origins: readonly string[]): Promise<void> {
  if (origins.length === 0) return;
  const allowed = new Set(origins);
  await app.register(cors, {
    // Any other origin (or none) gets no CORS header at all, and its preflight a 404.
    origin: (origin, done) => done(null, origin !== undefined && allowed.has(origin) ? origin : false),
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'If-Match', 'If-None-Match', 'Idempotency-Key', 'X-Request-Id'],
    exposedHeaders: ['ETag', 'Location', 'Retry-After', 'WWW-Authenticate', 'X-Request-Id', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
    credentials: false,
    maxAge: 600,
    // A bare OPTIONS gets a plain 204 instead of the plugin's text/plain 400.
    strictPreflight: false,
  });
}
