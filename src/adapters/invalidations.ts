import type { RedisConnection } from './redis.js';

/** What can be invalidated: each kind is a cache some service keeps per instance. */
export type InvalidationKind = 'api_key' | 'oauth_client' | 'signing_key';

export type InvalidationHandler = (id: string) => void;

/**
 * Tells every instance that a cached thing changed (a revoked key, a deleted OAuth client, a
 * rotated signing key), so each drops its copy at once instead of when its cache expires.
 * Delivery is best effort: the caches' own expiry (at most 4 s for API keys) bounds what a lost
 * message costs, and the 5-second promise of the contract rests on that expiry.
 */
export interface Invalidations {
  /** Announces a change to every instance, this one included. Never throws. */
  publish(kind: InvalidationKind, id: string): Promise<void>;
  /** Calls `handler` with the id of every change of that kind announced by any instance. */
  subscribe(kind: InvalidationKind, handler: InvalidationHandler): void;
  close(): Promise<void>;
}

function handlers() {
  const byKind = new Map<string, InvalidationHandler[]>();
  return {
    add(kind: string, handler: InvalidationHandler) {
      byKind.set(kind, [...(byKind.get(kind) ?? []), handler]);
    },
    deliver(kind: string, id: string) {
      for (const h of byKind.get(kind) ?? []) h(id);
    },
  };
}

/** One process, no Redis: the announcement reaches this process's subscribers only. */
export function createLocalInvalidations(): Invalidations {
  const subs = handlers();
  return {
    async publish(kind, id) {
      subs.deliver(kind, id);
    },
    subscribe: (kind, handler) => subs.add(kind, handler),
    async close() {},
  };
}

const MAX_MESSAGE = 1024;

/** Redis pub/sub on one channel under REDIS_PREFIX (`roster:invalidations`). */
export function createRedisInvalidations(redis: RedisConnection): Invalidations {
  const channel = `${redis.prefix}invalidations`;
  const subs = handlers();
  let listening = false;

  function listen() {
    if (listening) return;
    listening = true;
    const sub = redis.subscriber();
    sub.on('message', (from: string, message: string) => {
      if (from !== channel || message.length > MAX_MESSAGE) return;
      try {
        const { kind, id } = JSON.parse(message) as { kind?: unknown; id?: unknown };
        if (typeof kind === 'string' && typeof id === 'string') subs.deliver(kind, id);
      } catch {
        // Not one of ours: ignore it.
      }
    });
    sub.subscribe(channel).catch((err: unknown) => redis.degraded(err));
  }

  return {
    async publish(kind, id) {
      // This process drops its own copy even if Redis is down.
      subs.deliver(kind, id);
      try {
        await redis.client.publish(channel, JSON.stringify({ kind, id }));
      } catch (err) {
        redis.degraded(err);
      }
    },
    subscribe(kind, handler) {
      subs.add(kind, handler);
      listen();
    },
    async close() {},
  };
}
