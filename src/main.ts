import cluster from 'node:cluster';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { isClusterPrimary, servePrimary, workerRuntimeOptions } from './cluster.js';
import { type Runtime, type RuntimeOptions, openRuntime } from './compose.js';
import type { Config } from './config.js';

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  /** Stops accepting, drains in-flight requests, then closes the database. */
  stop(): Promise<void>;
}

/** Opens the database (migrating it), builds the app and listens. */
export async function startServer(config: Config, logStream?: NodeJS.WritableStream, runtimeOptions: RuntimeOptions = {}): Promise<RunningServer> {
  let log: FastifyInstance['log'] | undefined;
  const runtime = await openRuntime(config, { ...runtimeOptions, onError: (err, what) => log?.warn({ err }, `${what} failed`) });
  const app = await buildApp({ config, services: { ...runtime.services, limiter: runtime.limiter, readiness: runtime.readiness }, logStream });
  log = app.log;
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await runtime.close();
    throw err;
  }
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
        await runtime.close();
      })();
      return stopping;
    },
  };
}

/** `roster serve`: runs until SIGTERM or SIGINT, then closes with grace. With WORKERS > 1, see cluster.ts. */
export async function serve(config: Config): Promise<void> {
  if (isClusterPrimary(config)) return servePrimary(config);
  const server = await startServer(config, undefined, workerRuntimeOptions(config));
  server.app.log.info({ url: server.url, database: server.runtime.database.location }, 'roster listening');
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      server.app.log.info({ signal }, 'shutting down');
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
