import { isIP } from 'node:net';
import { nowIso, toIso } from '../adapters/clock.js';
import { randomId } from '../adapters/ids.js';
import { isPrivateAddress, resolveHost } from '../adapters/network.js';
import type { Config } from '../config.js';
import { AppError, notFound, validationError } from '../errors.js';
import type { CreateWebhookEndpointBody, CreatedWebhookEndpoint, WebhookEndpoint } from '../schemas/webhooks.js';
import type { Store } from '../store/index.js';
import type { DeliveryStatus, StoredAttempt, StoredDelivery } from '../store/webhook-deliveries.js';
import type { StoredWebhookEndpoint } from '../store/webhook-endpoints.js';
import { generateSigningSecret } from './webhook-signature.js';

interface Deps {
  store: Store;
  config: Config;
}

interface PageQuery {
  limit?: number;
  cursor?: string;
}

function toWireEndpoint(e: StoredWebhookEndpoint): WebhookEndpoint {
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    event_types: e.eventTypes as WebhookEndpoint['event_types'],
    status: e.status,
    failing_since: e.failingSince,
    created_at: e.createdAt,
  };
}

export function toWireDelivery(d: StoredDelivery) {
  return {
    id: d.id,
    endpoint_id: d.endpointId,
    event_id: d.eventId,
    event_type: d.eventType,
    user_id: d.userId,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? toIso(d.nextAttemptAt) : null,
    last_attempt_at: d.lastAttemptAt,
    last_response_status: d.lastResponseStatus,
    last_latency_ms: d.lastLatencyMs,
    last_error: d.lastError,
    created_at: d.createdAt,
    completed_at: d.completedAt,
  };
}

function toWireAttempt(a: StoredAttempt) {
  return {
    id: a.id,
    delivery_id: a.deliveryId,
    event_id: a.eventId,
    attempted_at: a.attemptedAt,
    response_status: a.responseStatus,
    latency_ms: a.latencyMs,
    error: a.error,
    succeeded: a.succeeded,
  };
}

function encodeCursor(seq: number): string {
  return Buffer.from(`w1:${seq}`).toString('base64url');
}

function decodeCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const match = /^w1:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw validationError({ cursor: ['Invalid cursor'] });
  return Number(match[1]);
}

function paged<T extends { seq: number }, W>(rows: T[], limit: number, wire: (row: T) => W) {
  const data = rows.slice(0, limit);
  const hasMore = rows.length > limit;
  return { data: data.map(wire), has_more: hasMore, next_cursor: hasMore ? encodeCursor(data[data.length - 1].seq) : null };
}

const endpointNotFound = () => notFound('Webhook endpoint not found');

export function createWebhookService({ store, config }: Deps) {
  /**
   * The URL must be http(s), carry no credentials, and (unless WEBHOOK_ALLOW_PRIVATE) resolve
   * only to public addresses. Checked again at every delivery, on the address connected to.
   */
  async function checkUrl(raw: string): Promise<string> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw validationError({ url: ['Must be an absolute http or https URL'] });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw validationError({ url: ['Must be an absolute http or https URL'] });
    if (url.username || url.password) throw validationError({ url: ['Must not contain credentials'] });
    if (config.webhookAllowPrivate) return url.toString();
    const host = url.hostname.replace(/^\[|\]$/g, '');
    let addresses: { address: string }[];
    try {
      addresses = await resolveHost(host);
    } catch {
      throw validationError({ url: ['Host name does not resolve'] });
    }
    if (addresses.length === 0 || addresses.some((a) => isPrivateAddress(a.address))) {
      throw validationError({ url: [`Must not ${isIP(host) ? 'be' : 'resolve to'} a loopback or private address (set WEBHOOK_ALLOW_PRIVATE=true to allow)`] });
    }
    return url.toString();
  }

  async function endpoint(id: string): Promise<StoredWebhookEndpoint> {
    const found = await store.webhookEndpoints.findById(id);
    if (!found) throw endpointNotFound();
    return found;
  }

  return {
    /** Registers an endpoint; its signing secret is in the result and never returned again. */
    async create(body: CreateWebhookEndpointBody): Promise<CreatedWebhookEndpoint> {
      const url = await checkUrl(body.url);
      const types = body.event_types ?? ['*'];
      const stored: StoredWebhookEndpoint = {
        id: randomId('we_'),
        url,
        description: body.description ?? null,
        eventTypes: types.includes('*') ? ['*'] : [...types],
        secret: generateSigningSecret(),
        status: 'enabled',
        failingSince: null,
        createdAt: nowIso(),
      };
      await store.webhookEndpoints.insert(stored);
      return { ...toWireEndpoint(stored), secret: stored.secret };
    },

    async list(): Promise<WebhookEndpoint[]> {
      return (await store.webhookEndpoints.list()).map(toWireEndpoint);
    },

    async get(id: string): Promise<WebhookEndpoint> {
      return toWireEndpoint(await endpoint(id));
    },

    /**
     * Removes the endpoint. Its pending deliveries end as failed, in the same transaction: left
     * pending, no one would ever attempt them, and every claim would read past them.
     */
    async delete(id: string): Promise<void> {
      const at = nowIso();
      await store.transaction(async (tx) => {
        if (!(await tx.webhookEndpoints.markDeleted(id, at))) throw endpointNotFound();
        await tx.webhookDeliveries.failPending(id, at);
      });
    },

    async listDeliveries(id: string, query: PageQuery & { status?: DeliveryStatus }) {
      await endpoint(id);
      const limit = query.limit ?? 20;
      const rows = await store.webhookDeliveries.listForEndpoint(id, query.status, decodeCursor(query.cursor), limit + 1);
      return paged(rows, limit, toWireDelivery);
    },

    async listAttempts(id: string, query: PageQuery) {
      await endpoint(id);
      const limit = query.limit ?? 20;
      const rows = await store.webhookDeliveries.listAttempts(id, decodeCursor(query.cursor), limit + 1);
      return paged(rows, limit, toWireAttempt);
    },

    /**
     * Puts a finished (failed, or even succeeded) delivery back in line, with a fresh 24-hour
     * retry window and its backoff started over. In order per user still holds: it goes before
     * that user's later events.
     */
    async retryDelivery(id: string, deliveryId: string) {
      await endpoint(id);
      const requeued = await store.transaction(async (tx) => {
        const current = await tx.webhookDeliveries.findById(id, deliveryId);
        if (!current) throw notFound('Delivery not found');
        const row = await tx.webhookDeliveries.requeue(id, deliveryId, Date.now());
        if (!row) throw new AppError('conflict', 'Delivery is already pending');
        tx.afterCommit('webhook_deliveries_queued');
        return row;
      });
      return toWireDelivery(requeued);
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
