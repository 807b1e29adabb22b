import { type Kysely, type Selectable, sql } from 'kysely';
import type { Dialect } from './database.js';
import type { Tables } from './tables.js';

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface StoredDelivery {
  seq: number;
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  userId: string;
  status: DeliveryStatus;
  /** Every attempt ever made, including the one just claimed. */
  attempts: number;
  /** Attempts since the retry window began (a manual retry opens a new one), including the one just claimed. */
  windowAttempts: number;
  nextAttemptAt: number;
  /** Epoch milliseconds until which the current claim holds. */
  lockedUntil: number;
  claimToken: string | null;
  windowStartedAt: number;
  lastAttemptAt: string | null;
  lastResponseStatus: number | null;
  lastLatencyMs: number | null;
  lastError: string | null;
  createdAt: string;
  completedAt: string | null;
}

export interface NewDelivery {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  userId: string;
  createdAt: string;
  nowMs: number;
}

export interface StoredAttempt {
  seq: number;
  id: string;
  deliveryId: string;
  endpointId: string;
  eventId: string;
  attemptedAt: string;
  responseStatus: number | null;
  latencyMs: number;
  error: string | null;
  succeeded: boolean;
}

/** What one attempt ended with, and what to do next. */
export interface AttemptOutcome {
  attempt: Omit<StoredAttempt, 'seq'>;
  /** The new state: `pending` with the time of the next attempt, or final. */
  status: DeliveryStatus;
  nextAttemptAt: number;
  completedAt: string | null;
}

const n = (v: unknown) => (v == null ? null : Number(v));

function toDelivery(row: Selectable<Tables['webhook_deliveries']>): StoredDelivery {
  return {
    seq: Number(row.seq),
    id: row.id,
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    eventType: row.event_type,
    userId: row.user_id,
    status: row.status as DeliveryStatus,
    attempts: Number(row.attempts),
    windowAttempts: Number(row.window_attempts),
    nextAttemptAt: Number(row.next_attempt_at),
    lockedUntil: Number(row.locked_until),
    claimToken: row.claim_token,
    windowStartedAt: Number(row.window_started_at),
    lastAttemptAt: row.last_attempt_at,
    lastResponseStatus: n(row.last_response_status),
    lastLatencyMs: n(row.last_latency_ms),
    lastError: row.last_error,
    createdAt: row.created_at,
    completedAt: row.completed_at,
  };
}

function toAttempt(row: Selectable<Tables['webhook_attempts']>): StoredAttempt {
  return {
    seq: Number(row.seq),
    id: row.id,
    deliveryId: row.delivery_id,
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    attemptedAt: row.attempted_at,
    responseStatus: n(row.response_status),
    latencyMs: Number(row.latency_ms),
    error: row.error,
    succeeded: Number(row.succeeded) === 1,
  };
}

export function createWebhookDeliveryStore(db: Kysely<Tables>, dialect: Dialect) {
  return {
    /** Writes the outbox rows of one event; called in the transaction that records it. */
    async enqueue(rows: NewDelivery[]): Promise<void> {
      if (rows.length === 0) return;
      await db
        .insertInto('webhook_deliveries')
        .values(
          rows.map((r) => ({
            id: r.id,
            endpoint_id: r.endpointId,
            event_id: r.eventId,
            event_type: r.eventType,
            user_id: r.userId,
            status: 'pending',
            attempts: 0,
            window_attempts: 0,
            next_attempt_at: r.nowMs,
            locked_until: 0,
            window_started_at: r.nowMs,
            created_at: r.createdAt,
          })),
        )
        .execute();
    },

    /**
     * Claims up to `limit` due deliveries in one statement, each the oldest unfinished one of
     * its (endpoint, user), so a user's later event never overtakes an earlier one. The lease
     * (`locked_until`) keeps other workers off it; on PostgreSQL, SKIP LOCKED lets concurrent
     * claimers pass each other's rows instead of waiting and then claiming them twice.
     */
    async claimDue(nowMs: number, leaseMs: number, token: string, limit: number, skipEndpoints: readonly string[] = []): Promise<StoredDelivery[]> {
      let due = db
        .selectFrom('webhook_deliveries as d')
        .innerJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
        .select('d.seq')
        .where('d.status', '=', 'pending')
        .where('d.next_attempt_at', '<=', nowMs)
        .where('d.locked_until', '<=', nowMs)
        .where('e.deleted_at', 'is', null)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('webhook_deliveries as p')
                .select('p.seq')
                .whereRef('p.endpoint_id', '=', 'd.endpoint_id')
                .whereRef('p.user_id', '=', 'd.user_id')
                .where('p.status', '=', 'pending')
                .whereRef('p.seq', '<', 'd.seq'),
            ),
          ),
        )
        .orderBy('d.seq')
        .limit(limit);
      if (skipEndpoints.length > 0) due = due.where('d.endpoint_id', 'not in', skipEndpoints);
      if (dialect === 'postgres') due = due.forUpdate('d').skipLocked();
      const rows = await db
        .updateTable('webhook_deliveries')
        .set({
          locked_until: nowMs + leaseMs,
          claim_token: token,
          attempts: sql`attempts + 1`,
          window_attempts: sql`window_attempts + 1`,
          // The retry window opens at a delivery's first attempt, not when it was queued: one that
          // waited behind a user's earlier delivery for its whole window still gets its own.
          window_started_at: sql`case when window_attempts = 0 then ${nowMs} else window_started_at end`,
        })
        .where('seq', 'in', due)
        .returningAll()
        .execute();
      return rows.map(toDelivery).sort((a, b) => a.seq - b.seq);
    },

    /** Records an attempt and the delivery's new state, if the claim is still this worker's. */
    async finishAttempt(deliveryId: string, token: string, outcome: AttemptOutcome): Promise<boolean> {
      const a = outcome.attempt;
      const result = await db
        .updateTable('webhook_deliveries')
        .set({
          status: outcome.status,
          next_attempt_at: outcome.nextAttemptAt,
          locked_until: 0,
          claim_token: null,
          last_attempt_at: a.attemptedAt,
          last_response_status: a.responseStatus,
          last_latency_ms: a.latencyMs,
          last_error: a.error,
          completed_at: outcome.completedAt,
        })
        .where('id', '=', deliveryId)
        .where('claim_token', '=', token)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      await db
        .insertInto('webhook_attempts')
        .values({
          id: a.id,
          delivery_id: a.deliveryId,
          endpoint_id: a.endpointId,
          event_id: a.eventId,
          attempted_at: a.attemptedAt,
          response_status: a.responseStatus,
          latency_ms: a.latencyMs,
          error: a.error,
          succeeded: a.succeeded ? 1 : 0,
        })
        .execute();
      return true;
    },

    /** Ends an endpoint's pending deliveries as failed (the endpoint is deleted). */
    async failPending(endpointId: string, at: string): Promise<void> {
      await db
        .updateTable('webhook_deliveries')
        .set({ status: 'failed', completed_at: at, locked_until: 0, claim_token: null })
        .where('endpoint_id', '=', endpointId)
        .where('status', '=', 'pending')
        .execute();
    },

    /** Gives a claim back without counting it (the worker stopped mid-attempt). */
    async release(deliveryId: string, token: string): Promise<void> {
      await db
        .updateTable('webhook_deliveries')
        .set({ locked_until: 0, claim_token: null, attempts: sql`attempts - 1`, window_attempts: sql`window_attempts - 1` })
        .where('id', '=', deliveryId)
        .where('claim_token', '=', token)
        .execute();
    },

    async findById(endpointId: string, id: string): Promise<StoredDelivery | undefined> {
      const row = await db.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', endpointId).where('id', '=', id).executeTakeFirst();
      return row && toDelivery(row);
    },

    async listForEndpoint(endpointId: string, status: DeliveryStatus | undefined, afterSeq: number, limit: number): Promise<StoredDelivery[]> {
      let q = db.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', endpointId).where('seq', '>', afterSeq);
      if (status) q = q.where('status', '=', status);
      return (await q.orderBy('seq').limit(limit).execute()).map(toDelivery);
    },

    async listAttempts(endpointId: string, afterSeq: number, limit: number): Promise<StoredAttempt[]> {
      const rows = await db.selectFrom('webhook_attempts').selectAll().where('endpoint_id', '=', endpointId).where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
      return rows.map(toAttempt);
    },

    /**
     * Puts a finished delivery back in line for a fresh retry window, its backoff starting over
     * (`attempts` keeps the total); undefined if it is still pending.
     */
    async requeue(endpointId: string, id: string, nowMs: number): Promise<StoredDelivery | undefined> {
      const row = await db
        .updateTable('webhook_deliveries')
        .set({ status: 'pending', next_attempt_at: nowMs, window_started_at: nowMs, window_attempts: 0, locked_until: 0, claim_token: null, completed_at: null })
        .where('endpoint_id', '=', endpointId)
        .where('id', '=', id)
        .where('status', '<>', 'pending')
        .returningAll()
        .executeTakeFirst();
      return row && toDelivery(row);
    },
  };
}

export type WebhookDeliveryStore = ReturnType<typeof createWebhookDeliveryStore>;
