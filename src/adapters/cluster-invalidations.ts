import type { Worker } from 'node:cluster';
import { type InvalidationKind, type Invalidations, createLocalInvalidations } from './invalidations.js';

/**
 * Invalidations across `roster serve` workers without Redis: a worker announces a change to the
 * primary, which passes it to every other worker. The workers are one instance, so a key revoked
 * in one of them must fail at once in all, not when the others' caches expire. With REDIS_URL
 * every worker listens to Redis instead and this is not involved.
 */

const TYPE = 'roster:invalidation';

interface Message {
  type: typeof TYPE;
  kind: InvalidationKind;
  id: string;
}

const isMessage = (msg: unknown): msg is Message =>
  (msg as Message | null)?.type === TYPE && typeof (msg as Message).kind === 'string' && typeof (msg as Message).id === 'string';

/** The worker's side: announces through the primary, and hears what the other workers announce. */
export function createClusterInvalidations(channel: NodeJS.Process = process): Invalidations {
  const local = createLocalInvalidations();
  channel.on('message', (msg: unknown) => {
    if (isMessage(msg)) void local.publish(msg.kind, msg.id);
  });
  return {
    async publish(kind, id) {
      await local.publish(kind, id);
      // Without the primary there is no other worker to tell.
      if (channel.connected && channel.send) channel.send({ type: TYPE, kind, id } satisfies Message);
    },
    subscribe: local.subscribe,
    close: local.close,
  };
}

/** The primary's side: passes what `worker` announces to every other live worker. */
export function relayInvalidations(worker: Worker, workers: ReadonlySet<Worker>): void {
  worker.on('message', (msg: unknown) => {
    if (!isMessage(msg)) return;
    for (const other of workers) if (other !== worker && other.isConnected()) other.send(msg);
  });
}
