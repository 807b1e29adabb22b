import { type Limiter, createMemoryLimiter } from './adapters/limiter.js';
import type { LoggedMail } from './adapters/mailer.js';
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
  /** Where mail goes without SMTP_URL (the server passes its log). */
  logMail?: (mail: LoggedMail) => void;
}

/** Opens the database and builds every service on it: what the server, the CLI and tests share. */
export async function openRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const database = openDatabase({ url: config.databaseUrl, poolSize: config.databasePoolSize, statementTimeoutMs: config.databaseStatementTimeoutMs, sqliteSynchronous: config.sqliteSynchronous });
  try {
    if (options.migrate !== false) await migrateToLatest(database);
  } catch (err) {
    await database.close();
    throw err;
  }
  const store = createStore(database);
  const limiter = createMemoryLimiter();
  const services = createServices({ config, store, limiter, onError: options.onError ?? (() => {}), logMail: options.logMail });
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
