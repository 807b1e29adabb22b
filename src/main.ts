import cluster from 'node:cluster';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { isClusterPrimary, servePrimary, workerRuntimeOptions } from './cluster.js';
import { type Runtime, type RuntimeOptions, openRuntime } from './compose.js';
import type { Config } from './config.js';
import { ListenError } from './errors.js';
import { type LogStream, asyncStdout } from './http/log-destination.js';
import { type DeliveryTuning, createDeliveryEngine } from './services/webhook-deliveries.js';
import { startIdempotencyCleanup } from './workers/idempotency-cleanup.js';
import { startWebhookWorker } from './workers/webhook-delivery.js';

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  /** Stops accepting, drains in-flight requests, then closes the database. */
  stop(): Promise<void>;
}

/** Internal knobs for tests (short retry delays); not settings: production runs the defaults. */
export interface ServerOptions {
  webhooks?: Partial<DeliveryTuning> & { pollIntervalMs?: number };
}

/** Opens the database (migrating it), builds the app and listens. */
export async function startServer(config: Config, logStream?: LogStream, options: ServerOptions = {}, runtimeOptions: RuntimeOptions = {}): Promise<RunningServer> {
  let log: FastifyInstance['log'] | undefined;
  // Warnings raised while opening (Redis not there at start) are kept until the log exists.
  const early: [string, unknown][] = [];
  const runtime = await openRuntime(config, {
    checkpointInBackground: true,
    readsInBackground: true,
    ...runtimeOptions,
    onError: (err, what) => log?.warn({ err }, `${what} failed`),
    onWarning: (message, err) => (log ? log.warn({ err }, message) : early.push([message, err])),
    onInfo: (message) => log?.info(message),
    // The documented local mode: without SMTP_URL the message (its link included) is logged, under `email`.
    logMail: (mail) => log?.warn({ email: mail }, 'SMTP_URL is not set: email written to the log instead of sent'),
  });
  const app = await buildApp({ config, services: { ...runtime.services, limiter: runtime.limiter, readiness: runtime.readiness }, logStream });
  log = app.log;
  for (const [message, err] of early) log.warn({ err }, message);
  if (runtime.migrated.length > 0) log.info({ migrations: runtime.migrated }, 'applied migrations');
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await runtime.close();
    throw new ListenError(`cannot listen on ${config.host} port ${config.port} (HOST, PORT): ${(err as Error).message}`, err as NodeJS.ErrnoException);
  }
  // Background work starts once listening and stops before the database closes.
  const { pollIntervalMs, ...tuning } = options.webhooks ?? {};
  const engine = createDeliveryEngine({ store: runtime.store, config, tuning });
  const webhookWorker = startWebhookWorker({ engine, pollIntervalMs, onError: (err) => app.log.warn({ err }, 'webhook delivery failed') });
  const stopWaking = runtime.store.onCommit('webhook_deliveries_queued', webhookWorker.wake);
  const idempotencyCleanup = startIdempotencyCleanup({ idempotency: runtime.services.idempotency, onError: (err) => app.log.warn({ err }, 'idempotency cleanup failed') });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let stopping: Promise<void> | undefined;
  return {
    app,
    runtime,
    url: `http://${host}:${port}`,
    stop() {
      stopping ??= (async () => {
        await app.close();
        stopWaking();
        await webhookWorker.stop();
        await idempotencyCleanup.stop();
        await runtime.close();
      })();
      return stopping;
    },
  };
}

/** `roster serve`: runs until SIGTERM or SIGINT, then closes with grace. With WORKERS > 1, see cluster.ts. */
export async function serve(config: Config): Promise<void> {
  if (isClusterPrimary(config)) return servePrimary(config);
  const logStream = asyncStdout();
  let server: RunningServer;
  try {
    server = await startServer(config, logStream, {}, workerRuntimeOptions(config));
  } catch (err) {
    // A worker that cannot start (its port taken, say) must end, so that the primary stops the
    // whole; its IPC channel would otherwise keep it alive, serving nothing.
    if (cluster.isWorker && process.connected) process.disconnect();
    throw err;
  }
  server.app.log.info({ url: server.url, database: server.runtime.database.location }, 'roster listening');
  // The default PUBLIC_URL is made from PORT before the port is chosen, and tokens, links and
  // /openapi.json are built on it: with PORT=0 it names port 0.
  if (config.port === 0 && new URL(config.publicUrl).port === '0') {
    server.app.log.warn({ url: server.url }, 'PORT=0 without PUBLIC_URL: tokens, verification links and /openapi.json name port 0; set PUBLIC_URL to the address clients use');
  }
  // Shown at once rather than with the next block of log lines (log-destination.ts), as is the
  // start of a shutdown.
  logStream.flush();
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      server.app.log.info({ signal }, 'shutting down');
      logStream.flush();
      server.stop().then(resolve, (err) => {
        server.app.log.error({ err }, 'shutdown failed');
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  // A cluster worker's IPC channel would keep it alive after its server closed.
  if (cluster.isWorker && process.connected) process.disconnect();
}
