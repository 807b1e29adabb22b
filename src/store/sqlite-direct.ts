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
 */
interface Direct {
  conn: SQLite.Database;
  /** True for the handle of the transaction that holds the connection. */
  holdsConnection: boolean;
}

const handles = new WeakMap<object, Direct>();

export function registerDirect(handle: object, conn: SQLite.Database, holdsConnection: boolean): void {
  handles.set(handle, { conn, holdsConnection });
}

/** After its transaction: a handle kept by mistake goes back through Kysely's queue. */
export function unregisterDirect(handle: object): void {
  handles.delete(handle);
}

/** The prepared statement to run at once on `handle`, or undefined to go through Kysely. */
export function directStatement(handle: object, sql: string): SQLite.Statement | undefined {
  const direct = handles.get(handle);
  if (!direct || !direct.conn.open || (!direct.holdsConnection && direct.conn.inTransaction)) return undefined;
  return preparedStatement(direct.conn, sql);
}
