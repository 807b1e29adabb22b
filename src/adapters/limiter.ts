import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

export interface LimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Unix seconds when the window resets. */
  resetAt: number;
}

/** A fixed-window limiter. The in-process one below; a Redis one shares the budget across instances. */
export interface Limiter {
  consume(key: string, limit: number, windowSeconds: number): Promise<LimitResult>;
  /** Whether `key` has budget left, without spending any. */
  peek(key: string, limit: number, windowSeconds: number): Promise<LimitResult>;
  /** Forgets `key` (a successful action that resets a failure count). */
  reset(key: string, limit: number, windowSeconds: number): Promise<void>;
  /** Gives back one unit that consume took (a reservation that was not needed after all). */
  refund(key: string, limit: number, windowSeconds: number): Promise<void>;
}

type Backend = {
  consume(key: string, points: number): Promise<RateLimiterRes>;
  reward(key: string, points: number): Promise<RateLimiterRes>;
  get(key: string): Promise<RateLimiterRes | null>;
  delete(key: string): Promise<boolean>;
};

/**
 * Wraps rate-limiter-flexible, whose limiters have one fixed size each: one limiter is kept per
 * (limit, window) pair, since keys may carry their own limit.
 */
export function limiterFrom(make: (limit: number, windowSeconds: number) => Backend): Limiter {
  const backends = new Map<string, Backend>();
  const backend = (limit: number, windowSeconds: number): Backend => {
    const id = `${limit}/${windowSeconds}`;
    let b = backends.get(id);
    if (!b) {
      b = make(limit, windowSeconds);
      backends.set(id, b);
    }
    return b;
  };
  const result = (res: RateLimiterRes, limit: number, allowed: boolean): LimitResult => ({
    allowed,
    limit,
    remaining: Math.max(0, res.remainingPoints),
    resetAt: Math.ceil((Date.now() + res.msBeforeNext) / 1000),
  });
  return {
    async consume(key, limit, windowSeconds) {
      try {
        return result(await backend(limit, windowSeconds).consume(key, 1), limit, true);
      } catch (err) {
        if (err instanceof RateLimiterRes) return result(err, limit, false);
        throw err;
      }
    },
    async peek(key, limit, windowSeconds) {
      const res = await backend(limit, windowSeconds).get(key);
      if (!res) return { allowed: true, limit, remaining: limit, resetAt: Math.ceil(Date.now() / 1000) + windowSeconds };
      return result(res, limit, res.consumedPoints < limit);
    },
    async reset(key, limit, windowSeconds) {
      await backend(limit, windowSeconds).delete(key);
    },
    async refund(key, limit, windowSeconds) {
      await backend(limit, windowSeconds).reward(key, 1);
    },
  };
}

export function createMemoryLimiter(): Limiter {
  return limiterFrom((points, duration) => new RateLimiterMemory({ points, duration }));
}
