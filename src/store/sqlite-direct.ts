import type SQLite from 'better-sqlite3';
import { preparedStatement } from './sqlite-dialect.js';

/**
 * When a statement may skip Kysely's asynchronous executor and run on better-sqlite3 at once.
 *
 * Kysely queues every query for the one connection, which costs a chain of promises per query
 * for a driver that answers synchronously. Running at once is safe (1) inside the transaction
 * that holds the connection (its own handle), and (2) from the shared handle when no
 * transaction is open: JavaScript runs one thing at a time, so nothing can start one midway.
 * From the shared handle while a transaction is open, the query must wait its turn in Kysely's
 * queue, or it would read what is not committed.
 *
 * Reads from the shared handle share one read transaction per turn of the event loop (a
 * snapshot). On its own, each read would begin and end a read transaction of its own, which in
 * WAL mode takes and drops a lock on the shared-memory index: two system calls that cost more
 * than the lookup itself. The snapshot ends in the same turn (setImmediate), and before anything
 * else uses the connection: a write from the shared handle, or Kysely taking the connection for
 * a query or a transaction (holdConnection). So whatever this process commits is seen by every
 * read that starts after the commit, and no snapshot outlives its turn to hold back a checkpoint.
 */
interface Direct {
  conn: SQLite.Database;
  /** True for the handle of the transaction that holds the connection. */
  holdsConnection: boolean;
  shared: Shared;
}

/** One per connection. */
interface Shared {
  /** Kysely holds the connection (a query or a transaction of its own is under way). */
  held: boolean;
  /** A read transaction opened by the direct path is open. */
  snapshot: boolean;
  begin: SQLite.Statement;
  commit: SQLite.Statement;
}

const handles = new WeakMap<object, Direct>();
const connections = new WeakMap<SQLite.Database, Shared>();

function sharedOf(conn: SQLite.Database): Shared {
  let shared = connections.get(conn);
  if (!shared) connections.set(conn, (shared = { held: false, snapshot: false, begin: conn.prepare('begin'), commit: conn.prepare('commit') }));
  return shared;
}

export function registerDirect(handle: object, conn: SQLite.Database, holdsConnection: boolean): void {
  handles.set(handle, { conn, holdsConnection, shared: sharedOf(conn) });
}

/** Kysely's driver took the connection: an open snapshot ends first. */
export function holdConnection(conn: SQLite.Database): void {
  const shared = sharedOf(conn);
  shared.held = true;
  endSnapshot(conn, shared);
}

/** Kysely's driver gave the connection back. */
export function releaseConnection(conn: SQLite.Database): void {
  sharedOf(conn).held = false;
}

function endSnapshot(conn: SQLite.Database, shared: Shared): void {
  if (!shared.snapshot) return;
  shared.snapshot = false;
  // A read transaction's COMMIT only drops its lock; a closed connection has dropped it already.
  if (conn.open && conn.inTransaction) shared.commit.run();
}

/** After its transaction: a handle kept by mistake goes back through Kysely's queue. */
export function unregisterDirect(handle: object): void {
  handles.delete(handle);
}

/**
 * The prepared statement to run at once on `handle`, or undefined to go through Kysely. With
 * `raw`, its rows are arrays (see preparedStatement).
 */
export function directStatement(handle: object, sql: string, raw = false): SQLite.Statement | undefined {
  const direct = handles.get(handle);
  if (!direct || !direct.conn.open) return undefined;
  const { conn, shared } = direct;
  if (direct.holdsConnection) return preparedStatement(conn, sql, raw);
  // Another's transaction: wait for it in Kysely's queue.
  if (conn.inTransaction && !shared.snapshot) return undefined;
  const statement = preparedStatement(conn, sql, raw);
  // A write needs the write lock, which another process may hold: Kysely's driver waits for it
  // without stopping the event loop (sqlite-dialect.ts).
  if (!statement.readonly) return undefined;
  if (!shared.snapshot && !shared.held) {
    // While Kysely holds the connection, a read runs on its own: a snapshot opened then could
    // take in the query Kysely is about to run.
    shared.begin.run();
    shared.snapshot = true;
    setImmediate(() => endSnapshot(conn, shared));
  }
  return statement;
}
