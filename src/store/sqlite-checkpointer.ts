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
 * The server's connection keeps a checkpoint of its own at `BACKSTOP_PAGES`: the log starts over
 * from its beginning only once it has been copied whole while no commit came in between, which a
 * thread copying beside a busy writer never sees; the writer's own checkpoint then finds all but
 * the last pages copied. It also bounds the log if the thread falls behind.
 */
const BACKSTOP_PAGES = 4000;
/** SQLite's own default, for the server's connection if the thread stops. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;
/** How long commits gather before a checkpoint; and how often the thread looks without being told. */
const GATHER_MS = 20;
const IDLE_MS = 1000;
/** Slots of the shared Int32Array: commits counted by the server, and the stop flag. */
const SLOTS = { commits: 0, stop: 1 };

export interface Checkpointer {
  /** Tells the thread that a commit added to the log (a few nanoseconds; no message is sent). */
  committed(): void;
  /** Stops the thread and closes its connection, so that the server's is the last one to close. */
  close(): Promise<void>;
}

/**
 * Starts the checkpoint thread for the file `path`, open on `conn` in WAL mode. If the thread
 * fails, `onError` hears why and `conn` goes back to checkpointing as SQLite does by default.
 */
export function startCheckpointer(conn: SQLite.Database, path: string, onError: (err: unknown) => void): Checkpointer {
  const signals = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  conn.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  const worker = new Worker(new URL('./sqlite-checkpoint-worker.js', import.meta.url), {
    workerData: { path, signals, slots: SLOTS, gatherMs: GATHER_MS, idleMs: IDLE_MS },
  });
  // A server that exits without closing its database is not held up by the thread.
  worker.unref();
  let closing = false;
  worker.on('error', (err) => {
    if (!closing) onError(err);
  });
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', () => {
      if (!closing && conn.open) conn.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
      resolve();
    });
  });
  return {
    committed() {
      Atomics.add(signals, SLOTS.commits, 1);
      Atomics.notify(signals, SLOTS.commits);
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
  };
}
