import type SQLite from 'better-sqlite3';

/**
 * How often a write tries again for another process's write lock, for as long as the
 * connection's busy_timeout. SQLite's own wait sleeps the thread, 1, 2, 5, 10 ms and longer
 * between tries: a `roster serve` worker stood still, reads included, while the other held the
 * lock (or a `roster` command did). Tried from a timer instead, the event loop goes on answering
 * reads meanwhile.
 */
const LOCK_RETRY_MS = 1;

/** SQLITE_BUSY, or an extended code of it (SQLITE_BUSY_RECOVERY: another connection is repairing the log). */
const isBusy = (err: unknown) => String((err as { code?: unknown }).code).startsWith('SQLITE_BUSY');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs a statement that needs the write lock. `run` must reach SQLite before it returns: it may
 * throw SQLITE_BUSY, or return a promise that rejects with it.
 */
export type LockWait = <T>(run: () => T | PromiseLike<T>) => Promise<T>;

const waits = new WeakMap<SQLite.Database, LockWait>();

/**
 * For `conn`: runs `run` without SQLite's sleeping wait (busy_timeout 0 for the call), and while
 * another connection holds the write lock, tries again from a timer until the connection's
 * busy_timeout has passed; then the SQLITE_BUSY stands, as SQLite's own wait would have ended.
 */
export function lockWaitOf(conn: SQLite.Database): LockWait {
  let wait = waits.get(conn);
  if (wait) return wait;
  const lockWaitMs = Number(conn.pragma('busy_timeout', { simple: true }));
  const noWait = conn.prepare('pragma busy_timeout = 0');
  const restore = conn.prepare(`pragma busy_timeout = ${lockWaitMs}`);
  wait = async <T>(run: () => T | PromiseLike<T>): Promise<T> => {
    const deadline = Date.now() + lockWaitMs;
    for (;;) {
      let outcome: T | PromiseLike<T>;
      noWait.get();
      try {
        outcome = run();
      } catch (err) {
        outcome = Promise.reject(err);
      } finally {
        // At once: a statement run while this call awaits must wait for the lock as usual.
        restore.get();
      }
      try {
        return await outcome;
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline) throw err;
      }
      await sleep(LOCK_RETRY_MS);
    }
  };
  waits.set(conn, wait);
  return wait;
}
