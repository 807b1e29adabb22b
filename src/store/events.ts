import type { Kysely, Selectable } from 'kysely';
import type { Dialect } from './database.js';
import { perDialect, statement } from './statements.js';
import type { Tables } from './tables.js';

export type EventType = 'user.created' | 'user.updated' | 'user.deleted' | 'user.password_changed' | 'user.email_verified';

export interface NewEvent {
  id: string;
  type: EventType;
  userId: string;
  actorKind: string;
  actorId: string;
  requestId: string | null;
  data: Record<string, unknown>;
  createdAt: string;
}

export interface StoredEvent extends NewEvent {
  seq: number;
}

export interface EventFilter {
  userId?: string;
  types?: string[];
  createdAfter?: string;
  createdBefore?: string;
}

export function toEvent(row: Selectable<Tables['events']>): StoredEvent {
  return {
    seq: Number(row.seq),
    id: row.id,
    type: row.type as EventType,
    userId: row.user_id,
    actorKind: row.actor_kind,
    actorId: row.actor_id,
    requestId: row.request_id,
    data: typeof row.data === 'string' ? JSON.parse(row.data) : row.data,
    createdAt: row.created_at,
  };
}

const appendSql = 'insert into "events" ("id", "type", "user_id", "actor_kind", "actor_id", "request_id", "data", "created_at") values (?, ?, ?, ?, ?, ?, ?, ?)';
/** Every change appends one (see statements.ts). */
const append = perDialect((dialect) => statement(dialect, appendSql));

export function createEventStore(db: Kysely<Tables>, dialect: Dialect) {
  return {
    /** Records an event; called inside the transaction of the change it describes. */
    async append(event: NewEvent): Promise<void> {
      await append[dialect].run(db, [
        event.id,
        event.type,
        event.userId,
        event.actorKind,
        event.actorId,
        event.requestId,
        JSON.stringify(event.data),
        event.createdAt,
      ]);
    },

    /** A user's events, oldest first (the audit trail of one user). */
    async listForUser(userId: string): Promise<StoredEvent[]> {
      const rows = await db.selectFrom('events').selectAll().where('user_id', '=', userId).orderBy('seq').execute();
      return rows.map(toEvent);
    },

    /** Up to `limit` events after `afterSeq`, oldest first: keyset pagination on the sequence. */
    async list(filter: EventFilter, afterSeq: number, limit: number): Promise<StoredEvent[]> {
      let q = db.selectFrom('events').selectAll().where('seq', '>', afterSeq);
      if (filter.userId !== undefined) q = q.where('user_id', '=', filter.userId);
      if (filter.types !== undefined && filter.types.length > 0) q = q.where('type', 'in', filter.types);
      if (filter.createdAfter !== undefined) q = q.where('created_at', '>=', filter.createdAfter);
      if (filter.createdBefore !== undefined) q = q.where('created_at', '<', filter.createdBefore);
      const rows = await q.orderBy('seq', 'asc').limit(limit).execute();
      return rows.map(toEvent);
    },

    async findById(id: string): Promise<StoredEvent | undefined> {
      const row = await db.selectFrom('events').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toEvent(row);
    },

    /** Whether any event names this user: a user ever created has at least one, even once deleted. */
    async existsForUser(userId: string): Promise<boolean> {
      const row = await db.selectFrom('events').select('seq').where('user_id', '=', userId).limit(1).executeTakeFirst();
      return row !== undefined;
    },

    /**
     * Rewrites the data of every event of a user through `redact`; called in the transaction that
     * deletes the user, so the erasure commits with the deletion.
     */
    async eraseUser(userId: string, redact: (data: Record<string, unknown>) => Record<string, unknown>): Promise<void> {
      const rows = await db.selectFrom('events').select(['seq', 'data']).where('user_id', '=', userId).execute();
      for (const row of rows) {
        const data = typeof row.data === 'string' ? JSON.parse(row.data) : row.data;
        await db.updateTable('events').set({ data: JSON.stringify(redact(data)) }).where('seq', '=', row.seq).execute();
      }
    },
  };
}

export type EventStore = ReturnType<typeof createEventStore>;
