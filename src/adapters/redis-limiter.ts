import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { type Limiter, limiterFrom } from './limiter.js';
import type { RedisConnection } from './redis.js';

/**
 * A limiter whose budgets live in Redis, shared by every instance. Each spend is one Lua script
 * (SET NX EX, then INCRBY: rate-limiter-flexible's RateLimiterRedis), so concurrent requests on
 * any number of instances never both take the last unit.
 *
 * While Redis is unreachable, calls fall through to an in-process limiter of the same size: the
 * service keeps serving, limited per instance, the outage is reported (throttled), and each call
 * tries Redis again first, so the shared budget is back as soon as Redis is. (This is
 * rate-limiter-flexible's `insuranceLimiter`, done here so that the failure is seen, not hidden.)
 */
export function createRedisLimiter(redis: RedisConnection): Limiter {
  return limiterFrom((points, duration) => {
    const local = new RateLimiterMemory({ points, duration });
    const shared = new RateLimiterRedis({
      storeClient: redis.client,
      // roster:rl:60:credential:key_… — counted per window length, whatever the limit, so
      // instances configured with different defaults still count the same requests.
      keyPrefix: `${redis.prefix}rl:${duration}`,
      points,
      duration,
      // Not connected: fail at once (and use the local limiter) instead of waiting on a socket.
      rejectIfRedisNotReady: true,
    });
    async function either<T>(onRedis: () => Promise<T>, onLocal: () => Promise<T>): Promise<T> {
      try {
        return await onRedis();
      } catch (err) {
        if (err instanceof RateLimiterRes) throw err; // over the limit: an answer, not a failure
        redis.degraded(err);
        return onLocal();
      }
    }
    return {
      consume: (key, n) => either(() => shared.consume(key, n), () => local.consume(key, n)),
      reward: (key, n) => either(() => shared.reward(key, n), () => local.reward(key, n)),
      get: (key) => either(() => shared.get(key), () => local.get(key)),
      delete: (key) => either(() => shared.delete(key), () => local.delete(key)),
    };
  });
}
