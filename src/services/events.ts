import { nowIso } from '../adapters/clock.js';
import { timeOrderedId } from '../adapters/ids.js';
import { notFound, userNotFound, validationError } from '../errors.js';
import type { Event } from '../schemas/events.js';
import type { User } from '../schemas/users.js';
import type { EventFilter, EventType, FeedPosition, StoredEvent } from '../store/events.js';
import type { Repositories, Store, TransactionRepositories } from '../store/index.js';
import type { StoredUser } from '../store/users.js';
import type { RequestContext } from './auth.js';
import { erasePersonalData } from './erasure.js';
import { toStoredInstant } from './instants.js';

/** The wire form of a stored user, as events carry it. */
export function publicUser(user: StoredUser): User {
  const { version: _version, seq: _seq, ...wire } = user;
  return wire;
}

/**
 * Appends the event of a change to the transaction making it, so that the change and its record
 * commit together or not at all. `data` follows Stripe's shape: the object after the change,
 * and for updates the previous values of the fields that changed. In the same transaction, one
 * delivery per subscribed webhook endpoint is queued (the outbox): a crash after the commit
 * loses no delivery, and a rollback sends none.
 */
export async function recordEvent(tx: TransactionRepositories, type: EventType, userId: string, ctx: RequestContext, data: Record<string, unknown>): Promise<void> {
  const id = timeOrderedId('evt_');
  const createdAt = nowIso();
  await tx.events.append({
    id,
    type,
    userId,
    actorKind: ctx.actor.kind,
    actorId: ctx.actor.id,
    requestId: ctx.requestId,
    data,
    createdAt,
  });
  const endpoints = await tx.webhookEndpoints.subscribedTo(type);
  if (endpoints.length === 0) return;
  const nowMs = Date.now();
  await tx.webhookDeliveries.enqueue(
    endpoints.map((e) => ({ id: timeOrderedId('dlv_'), endpointId: e.id, eventId: id, eventType: type, userId, createdAt, nowMs })),
  );
  tx.afterCommit('webhook_deliveries_queued');
}

/** Erases the personal values in every event of a user; called in the transaction deleting it. */
export async function eraseUserEvents(tx: Repositories, userId: string): Promise<void> {
  await tx.events.eraseUser(userId, erasePersonalData);
}

/** The one stored-to-wire mapper of events, for the API and webhook bodies alike. */
export function toWireEvent(event: StoredEvent): Event {
  return {
    id: event.id,
    type: event.type,
    created_at: event.createdAt,
    user_id: event.userId,
    actor: { type: event.actorKind, id: event.actorId },
    request_id: event.requestId,
    data: event.data,
  };
}

export const EVENT_TYPES: readonly EventType[] = ['user.created', 'user.updated', 'user.deleted', 'user.password_changed', 'user.email_verified'];

export interface EventQuery {
  limit?: number;
  cursor?: string;
  /** Comma-separated event types. */
  type?: string;
  createdAfter?: string;
  createdBefore?: string;
}

export interface EventPage {
  data: Event[];
  has_more: boolean;
  next_cursor: string | null;
}

// The cursor is opaque to clients; inside it is the position of the last event of the page:
// its seq, and on PostgreSQL its transaction too (e2), which a cursor of the seq alone (e1)
// predates.
function encodeCursor(event: StoredEvent): string {
  return Buffer.from(event.tx === undefined ? `e1:${event.seq}` : `e2:${event.tx}:${event.seq}`).toString('base64url');
}

function decodeCursor(cursor: string): FeedPosition {
  const match = /^(?:e1|e2:(\d{1,20})):(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw validationError({ cursor: ['Invalid cursor'] });
  return match[1] === undefined ? { seq: Number(match[2]) } : { seq: Number(match[2]), tx: match[1] };
}

function parseTypes(type: string | undefined): string[] | undefined {
  if (type === undefined) return undefined;
  const types = type.split(',').map((t) => t.trim());
  const unknown = types.filter((t) => !EVENT_TYPES.includes(t as EventType));
  if (unknown.length > 0) throw validationError({ type: [`Must be one or more of: ${EVENT_TYPES.join(', ')}`] });
  return types;
}

export function createEventService({ store }: { store: Store }) {
  async function page(filter: EventFilter, query: EventQuery): Promise<EventPage> {
    const limit = query.limit ?? 20;
    const after = query.cursor ? decodeCursor(query.cursor) : null;
    filter.types = parseTypes(query.type);
    if (query.createdAfter) filter.createdAfter = toStoredInstant('created_after', query.createdAfter);
    if (query.createdBefore) filter.createdBefore = toStoredInstant('created_before', query.createdBefore);
    const rows = await store.events.list(filter, after, limit + 1);
    const data = rows.slice(0, limit);
    const hasMore = rows.length > limit;
    return { data: data.map(toWireEvent), has_more: hasMore, next_cursor: hasMore ? encodeCursor(data[data.length - 1]) : null };
  }

  return {
    /** Every event, oldest first, a keyset page at a time. */
    list: (query: EventQuery) => page({}, query),

    /** One user's audit trail; it outlives the user (erased of personal values). */
    async listForUser(userId: string, query: EventQuery): Promise<EventPage> {
      if (!(await store.events.existsForUser(userId))) throw userNotFound();
      return page({ userId }, query);
    },

    async get(id: string): Promise<Event> {
      const event = await store.events.findById(id);
      if (!event) throw notFound('Event not found');
      return toWireEvent(event);
    },
  };
}

export type EventService = ReturnType<typeof createEventService>;
