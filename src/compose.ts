import { type Invalidations, createLocalInvalidations, createRedisInvalidations } from './adapters/invalidations.js';
import { type Limiter, createMemoryLimiter } from './adapters/limiter.js';
import type { LoggedMail } from './adapters/mailer.js';
import { type RedisConnection, openRedis } from './adapters/redis.js';
import { createRedisLimiter } from './adapters/redis-limiter.js';
import type { Config } from './config.js';
import type { ReadinessCheck } from './routes/operations.js';
import { type Services, createServices } from './services/index.js';
import { type Database, connectDatabase } from './store/database.js';
import { type Store, createStore } from './store/index.js';
import { migrateToLatest } from './store/migrate.js';

export interface Runtime {
  config: Config;
  database: Database;
  store: Store;
  limiter: Limiter;
  /** Redis when REDIS_URL is set (shared limits, revocations), else null. */
  redis: RedisConnection | null;
  invalidations: Invalidations;
  /** Migrations this start applied (empty when another instance had, or nothing was pending). */
  migrated: string[];
  services: Services;
  readiness: ReadinessCheck[];
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Apply pending migrations first (the server does; `roster migrate --dry-run` does not). */
  migrate?: boolean;
  /** On SQLite, checkpoint from a thread of its own: the long-running server does; a command does without. */
  checkpointInBackground?: boolean;
  /** On SQLite, run reads that may scan a table on a thread of their own: the server does. */
  readsInBackground?: boolean;
  onError?: (err: unknown, what: string) => void;
  /** Where mail goes without SMTP_URL (the server passes its log). */
  logMail?: (mail: LoggedMail) => void;
  /** Where Redis outage warnings (at most one a minute) and recoveries go. */
  onWarning?: (message: string, err?: unknown) => void;
  onInfo?: (message: string) => void;
  /** A limiter to use instead of the in-process one (a cluster worker's asks the primary). */
  limiter?: Limiter;
  /** Invalidations to use instead of Redis's or this process's alone (a cluster worker's reach the others through the primary). */
  invalidations?: Invalidations;
}

/** Opens the database and builds every service on it: what the server, the CLI and tests share. */
export async function openRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const database = await connectDatabase({
    url: config.databaseUrl,
    poolSize: config.databasePoolSize,
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    sqliteSynchronous: config.sqliteSynchronous,
    checkpointInBackground: options.checkpointInBackground,
    readsInBackground: options.readsInBackground,
    onCheckpointError: (err) => options.onError?.(err, 'the SQLite checkpoint thread'),
  });
  let migrated: string[] = [];
  try {
    if (options.migrate !== false) migrated = await migrateToLatest(database);
  } catch (err) {
    await database.close();
    throw err;
  }
  const store = createStore(database);
  const redis = config.redisUrl
    ? await openRedis({ url: config.redisUrl, prefix: config.redisPrefix, warn: options.onWarning ?? (() => {}), info: options.onInfo })
    : null;
  const limiter = options.limiter ?? (redis ? createRedisLimiter(redis) : createMemoryLimiter());
  const invalidations = options.invalidations ?? (redis ? createRedisInvalidations(redis) : createLocalInvalidations());
  const services = createServices({ config, store, limiter, invalidations, onError: options.onError ?? (() => {}), logMail: options.logMail });
  invalidations.subscribe('api_key', (id) => services.apiKeys.forget(id));
  invalidations.subscribe('oauth_client', (id) => services.oauthClients.forget(id));
  const readiness: ReadinessCheck[] = [
    {
      name: 'database',
      check: () => database.ping(),
    },
  ];
  // Redis down makes the instance not ready, as the database does; requests it still gets are
  // served with per-instance limits.
  if (redis) readiness.push({ name: 'redis', check: () => redis.check() });
  return {
    config,
    database,
    store,
    limiter,
    redis,
    invalidations,
    migrated,
    services,
    readiness,
    async close() {
      await invalidations.close();
      await redis?.close();
      await database.close();
    },
  };
}
