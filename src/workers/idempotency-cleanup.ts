import type { IdempotencyService } from '../services/idempotency.js';

/** Deletes expired Idempotency-Key records at start and then every `intervalMs` (default 10 minutes). */
export function startIdempotencyCleanup({ idempotency, intervalMs = 10 * 60_000, onError = () => {} }: { idempotency: IdempotencyService; intervalMs?: number; onError?: (err: unknown) => void }) {
  let running: Promise<unknown> = Promise.resolve();
  const run = () => {
    running = idempotency.cleanup().catch(onError);
  };
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
