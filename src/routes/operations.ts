import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Metrics } from '../http/metrics.js';
import { errorResponses } from '../schemas/common.js';

/** A dependency /readyz checks: its name and a probe that throws when it is unreachable. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

const Health = Type.Object(
  {
    status: Type.String({ maxLength: 20, description: '`ok`, or `unavailable` when a dependency cannot be reached.' }),
    checks: Type.Optional(Type.Record(Type.String({ maxLength: 50 }), Type.String({ maxLength: 20 }))),
  },
  { additionalProperties: false },
);

const tags = ['Operations'];

export const operationsRoutes: FastifyPluginAsyncTypebox<{ checks: ReadinessCheck[]; metrics: Metrics }> = async (app, { checks, metrics }) => {
  app.get(
    '/healthz',
    { schema: { operationId: 'health', summary: 'Liveness', description: 'The process is up.', tags, security: [], response: { 200: Health } } },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'readiness',
        summary: 'Readiness',
        description: 'Whether the database and Redis (when configured) can be reached; 503 when either cannot.',
        tags,
        security: [],
        response: { 200: Health, 503: Health },
      },
    },
    async (request, reply) => {
      const results: Record<string, string> = {};
      let status = 'ok';
      for (const c of checks) {
        try {
          await c.check();
          results[c.name] = 'ok';
        } catch {
          results[c.name] = 'unavailable';
          status = 'unavailable';
        }
      }
      if (status === 'unavailable') reply.code(503).header('retry-after', '5');
      return { status, checks: results };
    },
  );

  app.get(
    '/metrics',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'metrics',
        summary: 'Prometheus metrics',
        description: 'Metrics in the Prometheus text format.',
        tags,
        security: [{ bearer: [] }],
        response: {
          200: {
            description: 'Prometheus text exposition format.',
            content: { 'text/plain': { schema: Type.String({ maxLength: 10_000_000 }) } },
          },
          ...errorResponses([]),
        },
      },
    },
    async (request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.collect();
    },
  );
};
