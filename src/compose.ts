import { type Limiter, createMemoryLimiter } from './adapters/limiter.js';
import type { Config } from './config.js';
import type { ReadinessCheck } from './routes/operations.js';
import { type Services, createServices } from './services/index.js';
import { type Database, openDatabase } from './store/database.js';
import { type Store, createStore } from './store/index.js';
import { migrateToLatest } from './store/migrate.js';

export interface Runtime {
  config: Config;
  database: Database;
  store: Store;
  limiter: Limiter;
  services: Services;
  readiness: ReadinessCheck[];
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Apply pending migrations first (the server does; `roster migrate --dry-run` does not). */
  migrate?: boolean;
  onError?: (err: unknown, what: string) => void;
  /** A limiter to use instead of the in-process one (a cluster worker's asks the primary). */
  limiter?: Limiter;
}

/** Opens the database and builds every service on it: what the server, the CLI and tests share. */
export async function openRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const database = openDatabase({ url: config.databaseUrl, poolSize: config.databasePoolSize, statementTimeoutMs: config.databaseStatementTimeoutMs });
  try {
    if (options.migrate !== false) await migrateToLatest(database);
  } catch (err) {
    await database.close();
    throw err;
  }
  const store = createStore(database);
  const limiter = options.limiter ?? createMemoryLimiter();
  const services = createServices({ config, store, limiter, onError: options.onError ?? (() => {}) });
  const readiness: ReadinessCheck[] = [
    {
      name: 'database',
      async check() {
        await database.ping();
        return 'ok';
      },
    },
  ];
  return {
    config,
    database,
    store,
    limiter,
    services,
    readiness,
    close: () => database.close(),
  };
}
