import { closeSync, openSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type SQLite from 'better-sqlite3';

/**
 * Moves SQLite's checkpoints, the copying of the write-ahead log back into the database file, off
 * the server's thread and onto a thread of their own.
 *
 * Why: SQLite checkpoints on the connection that commits, every 1,000 pages of log, and a
 * checkpoint reads each page from the log, writes it into the file and waits for two fsyncs. The
 * server's only thread stood still meanwhile. Among 1,000,000 users nearly every page a PATCH
 * changes is a different place in the file, so each checkpoint wrote about a page per PATCH and
 * the fsync waited for the disk to write them all: the PATCH benchmark lost 13 to 19% of its
 * throughput to it against 10,000 users, where the same pages are changed again and again. A
 * PASSIVE checkpoint on another connection copies while the server goes on committing.
 *
 * The log starts over from its beginning only when a transaction begins after a checkpoint has
 * copied all of it, which a thread copying beside a busy writer never sees: commits come in while
 * it copies. So once the log holds `RESTART_PAGES`, the thread asks the writer to hold its next
 * transaction (requests go on being read and answered up to their writes), copies the last pages,
 * and lets it go: that transaction starts the log over. Only a checkpoint that copies all of the
 * log fsyncs the database file, and that fsync writes out every page copied since the last one:
 * among 1,000,000 users, about 30 ms of scattered writes. The thread first writes them out with
 * fsyncs of its own while the writer goes on, so the hold lasts a few milliseconds, and never more
 * than `HOLD_LIMIT_MS`.
 *
 * The server's connection keeps a checkpoint of its own at `BACKSTOP_PAGES`, for a log that grows
 * anyway: other processes writing to the file, say. It used to start the log over itself, past
 * 4,000 pages, with that whole fsync on the event loop, where reads beside writes waited for it.
 */
const RESTART_PAGES = 4000;
const BACKSTOP_PAGES = 8000;
const HOLD_LIMIT_MS = 50;
/** SQLite's own default, for the server's connection if the thread stops. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;
/** How long commits gather before a checkpoint; and how often the thread looks without being told. */
const GATHER_MS = 20;
const IDLE_MS = 1000;
/**
 * Slots of the shared Int32Array: commits counted by the server; the stop flag; the thread's
 * request to hold the next transaction, and the writer's answer that it holds.
 */
const SLOTS = { commits: 0, stop: 1, hold: 2, held: 3 };

export interface Checkpointer {
  /** Tells the thread that a commit added to the log (a few nanoseconds; no message is sent). */
  committed(): void;
  /**
   * Nothing while the writer may begin a transaction; while the thread asks it to hold, a promise
   * that resolves when it may.
   */
  writable(): Promise<void> | undefined;
  /** Stops the thread and closes its connection, so that the server's is the last one to close. */
  close(): Promise<void>;
  /** Closes the descriptor the thread flushes through: only once the server's connection is closed. */
  release(): void;
}

/**
 * A descriptor of the database file for the thread's fsync, or undefined where it cannot be had
 * (the fsync only shortens the hold). Closing any descriptor of a file drops every POSIX lock the
 * process holds on it, SQLite's own included, so it stays open until the server's connection has
 * closed (`release`).
 */
function openForFlush(path: string): number | undefined {
  try {
    return openSync(path, 'r');
  } catch {
    return undefined;
  }
}

/**
 * Starts the checkpoint thread for the file `path`, open on `conn` in WAL mode. If the thread
 * fails, `onError` hears why and `conn` goes back to checkpointing as SQLite does by default.
 */
export function startCheckpointer(conn: SQLite.Database, path: string, onError: (err: unknown) => void): Checkpointer {
  const fileFd = openForFlush(path);
  const signals = new Int32Array(new SharedArrayBuffer(Object.keys(SLOTS).length * Int32Array.BYTES_PER_ELEMENT));
  conn.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  const worker = new Worker(new URL('./sqlite-checkpoint-worker.js', import.meta.url), {
    workerData: { path, signals, slots: SLOTS, gatherMs: GATHER_MS, idleMs: IDLE_MS, restartPages: RESTART_PAGES, fileFd },
  });
  // A server that exits without closing its database is not held up by the thread.
  worker.unref();
  let closing = false;
  worker.on('error', (err) => {
    if (!closing) onError(err);
  });
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', () => {
      // A thread that ended while asking for a hold no longer holds the writer up.
      Atomics.store(signals, SLOTS.hold, 0);
      Atomics.notify(signals, SLOTS.hold);
      if (!closing && conn.open) conn.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
      resolve();
    });
  });
  return {
    committed() {
      Atomics.add(signals, SLOTS.commits, 1);
      Atomics.notify(signals, SLOTS.commits);
    },
    writable() {
      if (Atomics.load(signals, SLOTS.hold) === 0) return undefined;
      Atomics.store(signals, SLOTS.held, 1);
      Atomics.notify(signals, SLOTS.held);
      // Waits without blocking the event loop, which a pending waitAsync does not keep alive: the
      // timer does, and bounds the wait, so that a slow fsync does not stall writes for long.
      const wait = Atomics.waitAsync(signals, SLOTS.hold, 1);
      return new Promise<void>((resolve) => {
        let waiting = true;
        const done = () => {
          if (!waiting) return;
          waiting = false;
          clearTimeout(limit);
          Atomics.store(signals, SLOTS.held, 0);
          resolve();
        };
        const limit = setTimeout(done, HOLD_LIMIT_MS);
        if (wait.async) void wait.value.then(done);
        else done();
      });
    },
    async close() {
      closing = true;
      // Held again until it has exited: otherwise a process with nothing else to do would end
      // while waiting for it, with the thread's connection still open.
      worker.ref();
      Atomics.store(signals, SLOTS.stop, 1);
      Atomics.notify(signals, SLOTS.stop);
      Atomics.notify(signals, SLOTS.commits);
      await exited;
    },
    release() {
      if (fileFd !== undefined) closeSync(fileFd);
    },
  };
}
