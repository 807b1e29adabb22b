import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type PrometheusContentType, type Registry } from 'prom-client';
import { answerWorker, askPrimary } from './cluster-ipc.js';

/**
 * /metrics with WORKERS > 1: each worker counts its own requests, and a scrape lands on one of
 * them. The worker that takes the scrape asks the primary, which gathers every worker's metrics
 * (prom-client's AggregatorRegistry: counters and histograms summed) and answers with the lot.
 */

const TYPE = 'roster:metrics';

/** The worker's side: its registry is offered to the primary, and the function returned asks for everyone's. */
export function clusterMetrics(registry: Registry, channel: NodeJS.Process = process): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry]);
  // Its constructor makes this worker answer the primary's requests for its metrics.
  new AggregatorRegistry<PrometheusContentType>();
  const ask = askPrimary<object, string>(TYPE, 'metrics', channel);
  return () => ask({});
}

/** The primary's side: answers a worker's request with every worker's metrics, aggregated. */
export function answerMetricsRequests(worker: Worker, aggregator: AggregatorRegistry<PrometheusContentType>): void {
  answerWorker<object, string>(worker, TYPE, () => aggregator.clusterMetrics());
}

/** Whether this process is a worker whose metrics must be gathered with the others'. */
export const inCluster = (): boolean => cluster.isWorker;
