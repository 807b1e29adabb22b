import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { pino } from 'pino';
import { AggregatorRegistry, type PrometheusContentType } from 'prom-client';
import { createClusterInvalidations, relayInvalidations } from './adapters/cluster-invalidations.js';
import { createClusterLimiter, answerLimitRequests } from './adapters/cluster-limiter.js';
import { answerMetricsRequests } from './adapters/cluster-metrics.js';
import { createMemoryLimiter } from './adapters/limiter.js';
import type { RuntimeOptions } from './compose.js';
import type { Config } from './config.js';
import { connectDatabase } from './store/database.js';
import { migrateToLatest } from './store/migrate.js';

/** WORKERS as a number of processes: `auto` (0) is one per core. */
export function workerCount(config: Config): number {
  return config.workers === 0 ? availableParallelism() : config.workers;
}

/** Whether this process should fork workers rather than serve. */
export function isClusterPrimary(config: Config): boolean {
  return cluster.isPrimary && workerCount(config) > 1;
}

/**
 * What a worker's runtime differs in: the primary has migrated already, and without Redis its
 * rate limits are checked by the primary, so that N workers still share one budget per key, and
 * its revocations reach the other workers through the primary.
 */
export function workerRuntimeOptions(config: Config): RuntimeOptions {
  if (!cluster.isWorker) return {};
  if (config.redisUrl) return { migrate: false };
  return { migrate: false, limiter: createClusterLimiter(), invalidations: createClusterInvalidations() };
}

/**
 * `roster serve` with WORKERS > 1: migrates once, then forks the workers, which share the port
 * (node:cluster hands connections out in turn) and each open their own database connection. A
 * worker that crashes after it started is replaced; one that cannot start stops the whole.
 * SIGTERM or SIGINT stops every worker with grace, then the primary.
 */
export async function servePrimary(config: Config): Promise<void> {
  const count = workerCount(config);
  // The primary has no Fastify: its own pino logger writes the workers' line shape, at LOG_LEVEL.
  const log = pino({ level: config.logLevel });
  const database = await connectDatabase({ url: config.databaseUrl, poolSize: 1, statementTimeoutMs: config.databaseStatementTimeoutMs });
  try {
    const applied = await migrateToLatest(database);
    if (applied.length > 0) log.info({ migrations: applied }, 'applied migrations');
  } finally {
    await database.close();
  }
  const limiter = createMemoryLimiter();
  const metrics = new AggregatorRegistry<PrometheusContentType>();
  const live = new Set<Worker>();
  let stopping = false;
  let failedToStart = false;

  await new Promise<void>((resolve) => {
    const stopAll = () => {
      for (const w of live) w.process.kill('SIGTERM');
      if (live.size === 0) resolve();
    };
    const fork = () => {
      const worker = cluster.fork();
      let listening = false;
      live.add(worker);
      answerLimitRequests(worker, limiter);
      relayInvalidations(worker, live);
      answerMetricsRequests(worker, metrics);
      worker.once('listening', () => {
        listening = true;
      });
      worker.once('exit', (code, signal) => {
        live.delete(worker);
        if (stopping) {
          if (live.size === 0) resolve();
          return;
        }
        if (!listening) {
          log.error({ worker_pid: worker.process.pid, code, signal }, 'worker failed to start; stopping');
          stopping = true;
          failedToStart = true;
          stopAll();
          return;
        }
        log.warn({ worker_pid: worker.process.pid, code, signal }, 'worker exited; starting another');
        fork();
      });
    };
    for (let i = 0; i < count; i++) fork();
    log.info({ workers: count, limits: config.redisUrl ? 'redis' : 'primary' }, 'roster primary started');
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down workers');
      stopAll();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  // Its own error is above, in the worker's output; `roster serve` then exits 1.
  if (failedToStart) throw new Error('a worker could not start (see its error above); stopped');
}
