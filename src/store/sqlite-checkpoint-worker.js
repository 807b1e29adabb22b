// @ts-check
/**
 * The checkpoint thread started by sqlite-checkpointer.ts: a connection of its own to the same
 * file, copying the write-ahead log into the database while the server's thread answers requests.
 * Plain JavaScript, so that it runs as it is from the source tree too (tests run the TypeScript
 * sources, and a worker thread does not inherit their loader).
 */
import { workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

/** @type {{ path: string, signals: Int32Array, slots: { commits: number, stop: number }, gatherMs: number, idleMs: number }} */
const { path, signals, slots, gatherMs, idleMs } = workerData;

const db = new SQLite(path);
// A checkpoint copies pages from the log to the file without the page cache: it needs next to none.
db.pragma('cache_size = -64');
db.pragma('busy_timeout = 1000');
// PASSIVE: copies what no reader still needs and never makes the server's connection wait.
const checkpoint = db.prepare('pragma wal_checkpoint(PASSIVE)');
try {
  let seen = Atomics.load(signals, slots.commits);
  while (Atomics.load(signals, slots.stop) === 0) {
    // Sleeps until the server commits, or a while has passed (writes made outside a transaction
    // do not signal). Then lets the commits of the next few milliseconds gather, so that one
    // checkpoint, with its two fsyncs, carries many of them; a stop ends the wait at once.
    Atomics.wait(signals, slots.commits, seen, idleMs);
    if (Atomics.wait(signals, slots.stop, 0, gatherMs) !== 'timed-out') break;
    seen = Atomics.load(signals, slots.commits);
    checkpoint.get();
  }
} finally {
  db.close();
}
