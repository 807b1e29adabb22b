import type { FastifyReply, FastifyRequest } from 'fastify';
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { clusterMetrics, inCluster } from '../adapters/cluster-metrics.js';
import { routeOf } from './route-of.js';

/** A registry per app (tests run several in one process), with the process's default metrics. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'roster_' });
  const duration = new Histogram({
    name: 'roster_http_request_duration_seconds',
    help: 'HTTP requests by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  // In a worker of WORKERS > 1, a scrape shows every worker's metrics, gathered by the primary.
  const collect = inCluster() ? clusterMetrics(registry) : () => registry.metrics();
  return {
    registry,
    /** The text a scrape gets (Prometheus exposition format). */
    collect,
    /** onResponse hook. */
    async observe(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      duration.observe({ method: request.method, route: routeOf(request).url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
