import { type Kysely, type Selectable, sql } from 'kysely';
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
  /** PostgreSQL only: the id of the transaction that wrote it (see list). */
  tx?: string;
}

/** Where a reader of the feed stands: just after this event (`tx` only on PostgreSQL). */
export interface FeedPosition {
  seq: number;
  tx?: string;
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
    ...(row.tx === undefined ? {} : { tx: String(row.tx) }),
  };
}

const appendSql = 'insert into "events" ("id", "type", "user_id", "actor_kind", "actor_id", "request_id", "data", "created_at") values (?, ?, ?, ?, ?, ?, ?, ?)';
/**
 * PostgreSQL: an event sorts at its transaction, or at its user's previous event's if that is
 * later. Transaction ids are handed out when a transaction first writes, not when it commits: of
 * two changes to one user, the one that waited for the other's row lock may hold the older id, and
 * its event would sort before the one it followed. The previous event has committed (the change
 * held the user's row lock), so the later position hides nothing from a follower: the event still
 * shows only once its own transaction is no longer running (see list).
 */
const appendPostgresSql =
  'insert into "events" ("id", "type", "user_id", "actor_kind", "actor_id", "request_id", "data", "created_at", "tx") values (?, ?, ?, ?, ?, ?, ?, ?, ' +
  `greatest(pg_current_xact_id(), (select "tx" from "events" where "user_id" = ? order by "seq" desc limit 1)))`;
/** Every change appends one (see statements.ts). */
const append = perDialect((dialect) => statement(dialect, dialect === 'postgres' ? appendPostgresSql : appendSql));

/**
 * PostgreSQL: the oldest transaction of this database still running when the statement's
 * snapshot was taken (else the snapshot's xmax): every event written by an older transaction is
 * committed or never will be. Transaction ids are shared by every database of the server, so
 * those seen running in another database are left out, or a long transaction elsewhere would
 * hold back this feed; one that has ended since the snapshot cannot be placed and counts.
 */
const settledHorizon = sql`
  select coalesce(min(x), pg_snapshot_xmax(pg_current_snapshot()))
  from pg_snapshot_xip(pg_current_snapshot()) as x
  where not exists (
    select 1 from pg_stat_activity a
    where a.datname <> current_database() and a.backend_xid is not null
      and a.backend_xid::text::bigint = (x::text::numeric % 4294967296)::bigint
  )`;

export function createEventStore(db: Kysely<Tables>, dialect: Dialect) {
  /**
   * The transaction to place a cursor of the seq alone (made before events carried theirs) in:
   * that of the last event at or before `seq`, so that a seq no event has means the place after
   * it, as on SQLite, and not the start of the feed; '0' before every event.
   */
  async function txOf(seq: number): Promise<string> {
    const row = await db.selectFrom('events').select(sql<string>`tx::text`.as('tx')).where('seq', '<=', seq).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return row?.tx ?? '0';
  }

  return {
    /** Records an event; called inside the transaction of the change it describes. */
    async append(event: NewEvent): Promise<void> {
      const values = [event.id, event.type, event.userId, event.actorKind, event.actorId, event.requestId, JSON.stringify(event.data), event.createdAt];
      await append[dialect].run(db, dialect === 'postgres' ? [...values, event.userId] : values);
    },

    /** A user's events, oldest first (the audit trail of one user). */
    async listForUser(userId: string): Promise<StoredEvent[]> {
      const rows = await db.selectFrom('events').selectAll().where('user_id', '=', userId).orderBy('seq').execute();
      return rows.map(toEvent);
    },

    /**
     * Up to `limit` events after `after` (from the first if null), oldest first: keyset pagination.
     * SQLite commits one writer at a time, so `seq` order is commit order. On PostgreSQL it is not:
     * the order is (writing transaction, seq), and only events of transactions older than every
     * one of this database still running are shown (settledHorizon). Any event that commits later
     * belongs to a newer transaction, so it sorts after every position already handed out: a
     * reader following the cursors misses nothing. An event shows once every transaction of this
     * database older than its own has ended.
     */
    async list(filter: EventFilter, after: FeedPosition | null, limit: number): Promise<StoredEvent[]> {
      let q = db.selectFrom('events').selectAll();
      if (dialect === 'postgres') {
        q = q.where(sql<boolean>`tx < (${settledHorizon})`).orderBy(sql`tx`);
        if (after) q = q.where(sql<boolean>`(tx, seq) > (${after.tx ?? (await txOf(after.seq))}::xid8, ${after.seq})`);
      } else if (after) {
        q = q.where('seq', '>', after.seq);
      }
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
