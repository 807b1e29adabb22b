import type { Redis } from 'ioredis';

/** How often, at most, a Redis outage is logged while it lasts. */
export const REDIS_WARNING_INTERVAL_MS = 60_000;
/** How long a start waits for Redis before serving with in-process limits. */
const READY_WAIT_MS = 3000;

export interface RedisConnection {
  /** Commands: fail fast (no offline queue) so a request never waits for a Redis that is gone. */
  readonly client: Redis;
  /** Every key of this deployment starts with it (REDIS_PREFIX). */
  readonly prefix: string;
  /** A second connection in subscriber mode, made on first use (pub/sub needs its own). */
  subscriber(): Redis;
  /** Whether commands can be sent now. */
  isReady(): boolean;
  /** Reports an outage: logged at once, then at most once per REDIS_WARNING_INTERVAL_MS. */
  degraded(err: unknown): void;
  /** /readyz: resolves when Redis answers PING, throws when it does not (requests are still served). */
  check(): Promise<void>;
  close(): Promise<void>;
}

export interface RedisOptions {
  url: string;
  prefix: string;
  /** Where outage warnings and recoveries go (the server's log). */
  warn: (message: string, err?: unknown) => void;
  info?: (message: string) => void;
}

// Reconnect forever, backing off to 2 s: the service returns to shared limits when Redis does.
const retryStrategy = (times: number) => Math.min(times * 200, 2000);

/**
 * An ioredis error as it may be logged: ioredis attaches the failed command with its arguments,
 * and those of the connection's HELLO are the username and password of REDIS_URL.
 */
function loggable(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const { name, message, code } = err as Error & { code?: string };
  return Object.assign(new Error(message), { name, code });
}

/**
 * Connects to Redis and waits briefly for it; if it is not there, returns anyway: the service
 * serves with in-process limits and reconnects in the background.
 */
export async function openRedis({ url, prefix, warn, info = () => {} }: RedisOptions): Promise<RedisConnection> {
  // Loaded only when REDIS_URL is set: a server without Redis does not carry the client.
  const { Redis } = await import('ioredis');
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 1000,
    retryStrategy,
  });
  let sub: Redis | undefined;
  let lastWarning = 0;
  let down = false;

  const degraded = (err: unknown) => {
    down = true;
    const now = Date.now();
    if (now - lastWarning < REDIS_WARNING_INTERVAL_MS) return;
    lastWarning = now;
    warn('Redis unreachable: rate limits are kept per instance and revocations reach other instances within 5 s, until it returns', loggable(err));
  };
  // Without a listener ioredis would print every reconnection failure itself.
  client.on('error', degraded);
  client.on('ready', () => {
    if (down) info('Redis reachable again: rate limits are shared again');
    down = false;
  });

  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, READY_WAIT_MS);
    timer.unref();
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });

  return {
    client,
    prefix,
    subscriber() {
      // Subscriptions are queued until connected and renewed after every reconnection.
      if (!sub) {
        sub = new Redis(url, { maxRetriesPerRequest: null, connectTimeout: 2000, autoResubscribe: true, retryStrategy });
        sub.on('error', degraded);
      }
      return sub;
    },
    isReady: () => client.status === 'ready',
    degraded,
    async check() {
      if (client.status !== 'ready') throw new Error(`Redis connection is ${client.status}`);
      try {
        await client.ping();
      } catch (err) {
        degraded(err);
        throw err;
      }
    },
    async close() {
      client.disconnect();
      sub?.disconnect();
    },
  };
}
