import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type PrometheusContentType, type Registry } from 'prom-client';

/**
 * /metrics with WORKERS > 1: each worker counts its own requests, and a scrape lands on one of
 * them. The worker that takes the scrape asks the primary, which gathers every worker's metrics
 * (prom-client's AggregatorRegistry: counters and histograms summed) and answers with the lot.
 */

interface MetricsRequest {
  type: 'roster:metrics';
  id: number;
}

interface MetricsReply {
  type: 'roster:metrics-reply';
  id: number;
  text?: string;
  error?: string;
}

/** The worker's side: its registry is offered to the primary, and `collect` asks for everyone's. */
export function clusterMetrics(registry: Registry, channel: NodeJS.Process = process): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry]);
  // Its constructor makes this worker answer the primary's requests for its metrics.
  new AggregatorRegistry<PrometheusContentType>();
  let nextId = 0;
  const pending = new Map<number, { resolve(text: string): void; reject(err: Error): void }>();
  channel.on('message', (msg: MetricsReply) => {
    if (msg?.type !== 'roster:metrics-reply') return;
    const waiter = pending.get(msg.id);
    if (!waiter) return;
    pending.delete(msg.id);
    if (msg.error !== undefined) waiter.reject(new Error(`metrics (primary): ${msg.error}`));
    else waiter.resolve(msg.text ?? '');
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      if (!channel.connected || !channel.send) return reject(new Error('metrics: the primary process is gone'));
      const id = nextId++;
      pending.set(id, { resolve, reject });
      channel.send({ type: 'roster:metrics', id } satisfies MetricsRequest);
    });
}

/** The primary's side: answers a worker's request with every worker's metrics, aggregated. */
export function answerMetricsRequests(worker: Worker, aggregator: AggregatorRegistry<PrometheusContentType>): void {
  worker.on('message', (msg: MetricsRequest) => {
    if (msg?.type !== 'roster:metrics') return;
    const reply = (body: Omit<MetricsReply, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: 'roster:metrics-reply', id: msg.id, ...body } satisfies MetricsReply);
    };
    aggregator.clusterMetrics().then(
      (text: string) => reply({ text }),
      (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
    );
  });
}

/** Whether this process is a worker whose metrics must be gathered with the others'. */
export const inCluster = (): boolean => cluster.isWorker;
