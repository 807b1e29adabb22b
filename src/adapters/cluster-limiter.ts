import type { Worker } from 'node:cluster';
import { answerWorker, askPrimary } from './cluster-ipc.js';
import type { LimitResult, Limiter } from './limiter.js';

/**
 * Rate limits across `roster serve` worker processes without Redis: every worker asks the
 * primary, which holds the one in-memory budget per key, over the cluster's IPC channel. This
 * keeps a limit of N per minute exactly N across all workers, at the price of one message round
 * trip per check. With REDIS_URL the Redis limiter is used instead and this is not involved.
 */

const TYPE = 'roster:limit';

interface LimitRequest {
  op: keyof Limiter;
  key: string;
  limit: number;
  windowSeconds: number;
}

/** The worker's side: a Limiter whose every call is answered by the primary. */
export function createClusterLimiter(channel: NodeJS.Process = process): Limiter {
  const call = askPrimary<LimitRequest, LimitResult | undefined>(TYPE, 'rate limiter', channel);
  return {
    consume: async (key, limit, windowSeconds) => (await call({ op: 'consume', key, limit, windowSeconds }))!,
    peek: async (key, limit, windowSeconds) => (await call({ op: 'peek', key, limit, windowSeconds }))!,
    reset: async (key, limit, windowSeconds) => {
      await call({ op: 'reset', key, limit, windowSeconds });
    },
    refund: async (key, limit, windowSeconds) => {
      await call({ op: 'refund', key, limit, windowSeconds });
    },
  };
}

/** The primary's side: answers one worker's limit requests from `limiter`. */
export function answerLimitRequests(worker: Worker, limiter: Limiter): void {
  answerWorker<LimitRequest, LimitResult | undefined>(worker, TYPE, async ({ op, key, limit, windowSeconds }) => (await limiter[op](key, limit, windowSeconds)) ?? undefined);
}
