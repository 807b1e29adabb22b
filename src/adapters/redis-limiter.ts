import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { type Limiter, limiterFrom } from './limiter.js';
import type { RedisConnection } from './redis.js';

/** How long the limiter keeps to the in-process one after Redis failed, but for one probe. */
const REDIS_PAUSE_MS = 1000;

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
  // After a failed call, Redis is left alone for a second but for one call (the probe), so that a
  // Redis that hangs (connected, answering nothing) costs one request its command timeout rather
  // than every request. An answer ends the pause at once.
  let pausedUntil = 0;
  // Connected again after an outage: no need to wait for a probe.
  redis.client.on('ready', () => {
    pausedUntil = 0;
  });
  const tryRedis = (): boolean => {
    const now = Date.now();
    if (now < pausedUntil) return false;
    if (pausedUntil !== 0) pausedUntil = now + REDIS_PAUSE_MS;
    return true;
  };
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
      if (!tryRedis()) return onLocal();
      try {
        const answer = await onRedis();
        pausedUntil = 0;
        return answer;
      } catch (err) {
        if (err instanceof RateLimiterRes) {
          pausedUntil = 0;
          throw err; // over the limit: an answer, not a failure
        }
        redis.degraded(err);
        pausedUntil = Date.now() + REDIS_PAUSE_MS;
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
