import { nowIso, toIso } from '../adapters/clock.js';
import { randomId } from '../adapters/ids.js';
import { type WebhookRequest, type WebhookResponse, postWebhook } from '../adapters/webhook-sender.js';
import type { Config } from '../config.js';
import type { Store } from '../store/index.js';
import type { AttemptOutcome, StoredDelivery } from '../store/webhook-deliveries.js';
import { toWireEvent } from './events.js';
import { signWebhook } from './webhook-signature.js';

/** How deliveries are paced; production uses the defaults, tests shorten them. */
export interface DeliveryTuning {
  /** Cut-off of one HTTP attempt. */
  timeoutMs: number;
  /** How long a claim keeps other workers off a delivery; longer than `timeoutMs`. */
  leaseMs: number;
  /** First retry delay; doubled per attempt, with jitter, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Retries go on at least this long; then the delivery is given up and the endpoint marked failing. */
  retryWindowMs: number;
}

export const DEFAULT_TUNING: DeliveryTuning = {
  timeoutMs: 10_000,
  leaseMs: 60_000,
  baseDelayMs: 5_000,
  maxDelayMs: 60 * 60_000,
  retryWindowMs: 24 * 60 * 60_000,
};

/** Exponential backoff with "equal jitter": half the delay fixed, half random, so retries of many deliveries spread out. */
export function retryDelay(attempts: number, tuning: Pick<DeliveryTuning, 'baseDelayMs' | 'maxDelayMs'>, random = Math.random): number {
  const exp = Math.min(tuning.maxDelayMs, tuning.baseDelayMs * 2 ** Math.min(30, Math.max(0, attempts - 1)));
  return Math.round(exp / 2 + random() * (exp / 2));
}

interface Deps {
  store: Store;
  config: Config;
  tuning?: Partial<DeliveryTuning>;
  send?: (req: WebhookRequest) => Promise<WebhookResponse>;
}

export function createDeliveryEngine({ store, config, tuning: overrides, send = postWebhook }: Deps) {
  const tuning: DeliveryTuning = { ...DEFAULT_TUNING, ...overrides };

  function outcomeOf(d: StoredDelivery, res: WebhookResponse, nowMs: number): AttemptOutcome {
    const succeeded = res.status !== null && res.status >= 200 && res.status < 300;
    const attemptedAt = toIso(nowMs);
    const attempt = {
      id: randomId('att_', 16),
      deliveryId: d.id,
      endpointId: d.endpointId,
      eventId: d.eventId,
      attemptedAt,
      responseStatus: res.status,
      latencyMs: res.latencyMs,
      error: succeeded ? null : res.error,
      succeeded,
    };
    if (succeeded) return { attempt, status: 'succeeded', nextAttemptAt: nowMs, completedAt: attemptedAt };
    if (nowMs - d.windowStartedAt >= tuning.retryWindowMs) return { attempt, status: 'failed', nextAttemptAt: nowMs, completedAt: attemptedAt };
    // Counted per window, not in total: after a manual retry the backoff starts over at the base delay.
    return { attempt, status: 'pending', nextAttemptAt: nowMs + retryDelay(d.windowAttempts, tuning), completedAt: null };
  }

  return {
    tuning,

    /**
     * Claims up to `limit` due deliveries for this worker (see the store for the ordering rule),
     * none to the endpoints of `skipEndpoints`.
     */
    claim(limit: number, skipEndpoints: readonly string[] = []): Promise<{ token: string; deliveries: StoredDelivery[] }> {
      const token = randomId('clm_', 16);
      return store.webhookDeliveries.claimDue(Date.now(), tuning.leaseMs, token, limit, skipEndpoints).then((deliveries) => ({ token, deliveries }));
    },

    /** Gives a claimed delivery back unattempted: it is due again at once, and its attempt is not counted. */
    giveBack: (d: StoredDelivery, token: string): Promise<void> => store.webhookDeliveries.release(d.id, token),

    /**
     * Makes one attempt of a claimed delivery and records it: success, the next retry, or, past
     * the retry window, the end (and the endpoint marked failing). The body is built from the
     * stored event at send time, so an erasure that happened meanwhile is honoured.
     */
    async deliver(d: StoredDelivery, token: string, signal?: AbortSignal): Promise<void> {
      const [endpoint, event] = await Promise.all([store.webhookEndpoints.findById(d.endpointId), store.events.findById(d.eventId)]);
      // An attempt may only start if it ends (at the latest, cut off by the timeout) while the
      // claim still holds: otherwise another worker could claim it meanwhile and send it twice.
      if (Date.now() + tuning.timeoutMs >= d.lockedUntil) {
        await store.webhookDeliveries.release(d.id, token);
        return;
      }
      let res: WebhookResponse;
      if (!endpoint || !event) {
        res = { status: null, latencyMs: 0, error: endpoint ? 'event not found' : 'endpoint deleted', aborted: false };
      } else {
        const body = JSON.stringify(toWireEvent(event));
        const timestamp = Math.floor(Date.now() / 1000);
        res = await send({
          url: endpoint.url,
          body,
          timeoutMs: tuning.timeoutMs,
          allowPrivate: config.webhookAllowPrivate,
          signal,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Roster-Webhooks/1',
            'webhook-id': event.id,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signWebhook(endpoint.secret, event.id, timestamp, body),
          },
        });
      }
      if (res.aborted) {
        await store.webhookDeliveries.release(d.id, token);
        return;
      }
      const outcome = outcomeOf(d, res, Date.now());
      // Nothing to send any more: retrying would not help.
      if (!endpoint || !event) Object.assign(outcome, { status: 'failed', completedAt: outcome.attempt.attemptedAt });
      await store.transaction(async (tx) => {
        if (!(await tx.webhookDeliveries.finishAttempt(d.id, token, outcome))) return;
        if (outcome.status === 'succeeded') await tx.webhookEndpoints.markEnabled(d.endpointId);
        if (outcome.status === 'failed' && endpoint) await tx.webhookEndpoints.markFailing(d.endpointId, nowIso());
      });
    },
  };
}

export type DeliveryEngine = ReturnType<typeof createDeliveryEngine>;
