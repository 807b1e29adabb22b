import { setMaxListeners } from 'node:events';
import type { DeliveryEngine } from '../services/webhook-deliveries.js';

export interface WebhookWorkerOptions {
  engine: DeliveryEngine;
  /** How often the outbox is looked at without a wake-up (deliveries queued by other instances, retries). */
  pollIntervalMs?: number;
  /** Deliveries in flight at once; each holds one (endpoint, user) pair. */
  concurrency?: number;
  /** Of those, at most this many to one endpoint (default a quarter of them). */
  perEndpoint?: number;
  onError?: (err: unknown) => void;
  /** While the loop itself keeps failing (its database out of reach, say), onError hears of it at most this often. */
  repeatedErrorIntervalMs?: number;
}

/**
 * The background loop that drains the webhook outbox. It claims due deliveries and sends them
 * concurrently, so a slow endpoint holds slots, never the loop or any API request; and at most
 * `perEndpoint` of them, so one that hangs with deliveries for many users (each waiting out the
 * timeout) cannot hold them all while other endpoints wait. It is woken after commits (`wake`)
 * and otherwise polls.
 */
export function startWebhookWorker({
  engine,
  pollIntervalMs = 1000,
  concurrency = 16,
  perEndpoint = Math.max(1, Math.floor(concurrency / 4)),
  onError = () => {},
  repeatedErrorIntervalMs = 60_000,
}: WebhookWorkerOptions) {
  const controller = new AbortController();
  // Every attempt in flight listens to the one stop signal.
  setMaxListeners(concurrency + 10, controller.signal);
  const inFlight = new Set<Promise<void>>();
  /** Deliveries in flight, per endpoint. */
  const busy = new Map<string, number>();
  let running = true;
  let woken = false;
  let sleeper: (() => void) | null = null;

  function wake(): void {
    woken = true;
    sleeper?.();
  }

  async function tick(): Promise<void> {
    const room = concurrency - inFlight.size;
    if (room <= 0) return;
    const full = [...busy].filter(([, n]) => n >= perEndpoint).map(([id]) => id);
    const { token, deliveries } = await engine.claim(room, full);
    for (const d of deliveries) {
      const sending = busy.get(d.endpointId) ?? 0;
      if (sending >= perEndpoint) {
        // One claim may hold more for an endpoint than its share: the rest go back at once, and
        // the next claim, which skips that endpoint, takes other endpoints' deliveries instead.
        await engine.giveBack(d, token);
        woken = true;
        continue;
      }
      busy.set(d.endpointId, sending + 1);
      const p: Promise<void> = engine
        .deliver(d, token, controller.signal)
        .catch(onError)
        .finally(() => {
          inFlight.delete(p);
          const left = (busy.get(d.endpointId) ?? 1) - 1;
          if (left > 0) busy.set(d.endpointId, left);
          else busy.delete(d.endpointId);
          // A finished delivery may unblock the same user's next event.
          wake();
        });
      inFlight.add(p);
    }
  }

  // A failing loop fails on every poll: the first failure is told, then one a minute until it works.
  let failing = false;
  let lastTold = 0;
  const loop = (async () => {
    while (running) {
      woken = false;
      try {
        await tick();
        failing = false;
      } catch (err) {
        const now = Date.now();
        if (!failing || now - lastTold >= repeatedErrorIntervalMs) {
          onError(err);
          lastTold = now;
        }
        failing = true;
      }
      if (!running) break;
      if (woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollIntervalMs);
        sleeper = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      sleeper = null;
    }
  })();

  return {
    wake,
    /** Stops claiming, interrupts attempts in flight (their claims are given back), and waits for them. */
    async stop(): Promise<void> {
      running = false;
      controller.abort();
      sleeper?.();
      await loop;
      await Promise.allSettled([...inFlight]);
    },
  };
}

export type WebhookWorker = ReturnType<typeof startWebhookWorker>;
