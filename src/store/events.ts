import type { Kysely, Selectable } from 'kysely';
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

export function createEventStore(db: Kysely<Tables>) {
  return {
    /** Records an event; called inside the transaction of the change it describes. */
    async append(event: NewEvent): Promise<void> {
      await db
        .insertInto('events')
        .values({
          id: event.id,
          type: event.type,
          user_id: event.userId,
          actor_kind: event.actorKind,
          actor_id: event.actorId,
          request_id: event.requestId,
          data: JSON.stringify(event.data),
          created_at: event.createdAt,
        })
        .execute();
    },

    /** A user's events, oldest first (the audit trail of one user). */
    async listForUser(userId: string): Promise<StoredEvent[]> {
      const rows = await db.selectFrom('events').selectAll().where('user_id', '=', userId).orderBy('seq').execute();
      return rows.map(toEvent);
    },
  };
}

export type EventStore = ReturnType<typeof createEventStore>;
