import type { Worker } from 'node:cluster';
import type { LimitResult, Limiter } from './limiter.js';

/**
 * Rate limits across `roster serve` worker processes without Redis: every worker asks the
 * primary, which holds the one in-memory budget per key, over the cluster's IPC channel. This
 * keeps a limit of N per minute exactly N across all workers, at the price of one message round
 * trip per check. With REDIS_URL the Redis limiter is used instead and this is not involved.
 */

type Op = 'consume' | 'peek' | 'reset' | 'refund';

interface LimitRequest {
  type: 'roster:limit';
  id: number;
  op: Op;
  key: string;
  limit: number;
  windowSeconds: number;
}

interface LimitReply {
  type: 'roster:limit-reply';
  id: number;
  result?: LimitResult;
  error?: string;
}

/** The worker's side: a Limiter whose every call is answered by the primary. */
export function createClusterLimiter(channel: NodeJS.Process = process): Limiter {
  let nextId = 0;
  const pending = new Map<number, { resolve(r: LimitResult | undefined): void; reject(e: Error): void }>();
  channel.on('message', (msg: LimitReply) => {
    if (msg?.type !== 'roster:limit-reply') return;
    const waiter = pending.get(msg.id);
    if (!waiter) return;
    pending.delete(msg.id);
    if (msg.error !== undefined) waiter.reject(new Error(`rate limiter (primary): ${msg.error}`));
    else waiter.resolve(msg.result);
  });
  // Without the primary there is no budget to check: fail the requests (503/500) rather than hang.
  channel.on('disconnect', () => {
    for (const waiter of pending.values()) waiter.reject(new Error('rate limiter: the primary process is gone'));
    pending.clear();
  });
  const call = (op: Op, key: string, limit: number, windowSeconds: number) =>
    new Promise<LimitResult | undefined>((resolve, reject) => {
      if (!channel.connected || !channel.send) return reject(new Error('rate limiter: the primary process is gone'));
      const id = nextId++;
      pending.set(id, { resolve, reject });
      const request: LimitRequest = { type: 'roster:limit', id, op, key, limit, windowSeconds };
      channel.send(request);
    });
  return {
    consume: async (key, limit, windowSeconds) => (await call('consume', key, limit, windowSeconds))!,
    peek: async (key, limit, windowSeconds) => (await call('peek', key, limit, windowSeconds))!,
    reset: async (key, limit, windowSeconds) => {
      await call('reset', key, limit, windowSeconds);
    },
    refund: async (key, limit, windowSeconds) => {
      await call('refund', key, limit, windowSeconds);
    },
  };
}

/** The primary's side: answers one worker's limit requests from `limiter`. */
export function answerLimitRequests(worker: Worker, limiter: Limiter): void {
  worker.on('message', (msg: LimitRequest) => {
    if (msg?.type !== 'roster:limit') return;
    const reply = (body: Omit<LimitReply, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: 'roster:limit-reply', id: msg.id, ...body } satisfies LimitReply);
    };
    const run =
      msg.op === 'reset' || msg.op === 'refund'
        ? limiter[msg.op](msg.key, msg.limit, msg.windowSeconds).then(() => undefined)
        : limiter[msg.op](msg.key, msg.limit, msg.windowSeconds);
    run.then(
      (result) => reply({ result }),
      (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
    );
  });
}
