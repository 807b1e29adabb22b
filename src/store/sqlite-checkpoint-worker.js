// @ts-check
/**
 * The checkpoint thread started by sqlite-checkpointer.ts: a connection of its own to the same
 * file, copying the write-ahead log into the database while the server's thread answers requests.
 * Plain JavaScript, so that it runs as it is from the source tree too (tests run the TypeScript
 * sources, and a worker thread does not inherit their loader).
 */
import { fdatasyncSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

/** @type {{ path: string, signals: Int32Array, slots: { commits: number, stop: number, hold: number, held: number }, gatherMs: number, idleMs: number, restartPages: number, fileFd?: number }} */
const { path, signals, slots, gatherMs, idleMs, restartPages, fileFd } = workerData;

const db = new SQLite(path);
// A checkpoint copies pages from the log to the file without the page cache: it needs next to none.
db.pragma('cache_size = -64');
db.pragma('busy_timeout = 1000');
// PASSIVE: copies what no reader still needs and never makes the server's connection wait.
const checkpoint = db.prepare('pragma wal_checkpoint(PASSIVE)');

/**
 * Copies all of the log while the writer holds its next transaction, which then starts the log
 * over (see sqlite-checkpointer.ts). A writer with nothing to write never answers: then nothing
 * is being added anyway.
 *
 * Before it asks, it writes out what earlier checkpoints copied, then copies and writes out what
 * came in meanwhile: the hold is left only the pages of the last few milliseconds to copy and
 * fsync. With one such pass instead of two, holds among 1,000,000 users lasted about twice as
 * long.
 */
function catchUp() {
  flushFile();
  checkpoint.get();
  flushFile();
  Atomics.store(signals, slots.held, 0);
  Atomics.store(signals, slots.hold, 1);
  try {
    Atomics.wait(signals, slots.held, 0, gatherMs);
    checkpoint.get();
  } finally {
    Atomics.store(signals, slots.hold, 0);
    Atomics.notify(signals, slots.hold);
  }
}

/**
 * Writes out the pages checkpoints copied into the file, so that the fsync ending the complete
 * checkpoint, made while the writer holds, finds few. Only that fsync makes the copy durable: if
 * this one fails, the hold is longer and nothing else changes.
 */
function flushFile() {
  if (fileFd === undefined) return;
  try {
    fdatasyncSync(fileFd);
  } catch {
    // see above
  }
}

try {
  let seen = Atomics.load(signals, slots.commits);
  // The log's size at which the thread next asks for a hold. Another process writing to the
  // file may keep a hold from starting the log over; then it waits for as much log again.
  let catchUpAt = restartPages;
  while (Atomics.load(signals, slots.stop) === 0) {
    // Sleeps until the server commits, or a while has passed (writes made outside a transaction
    // do not signal). Then lets the commits of the next few milliseconds gather, so that one
    // checkpoint, with its fsync of the log, carries many of them; a stop ends the wait at once.
    Atomics.wait(signals, slots.commits, seen, idleMs);
    if (Atomics.wait(signals, slots.stop, 0, gatherMs) !== 'timed-out') break;
    seen = Atomics.load(signals, slots.commits);
    const { log } = /** @type {{ log: number }} */ (checkpoint.get());
    if (log < 0) continue; // the server's connection was checkpointing
    // Smaller than at the last hold: it started over.
    if (log < catchUpAt - restartPages) catchUpAt = restartPages;
    // Without a commit since the checkpoint began, it copied the whole log, which then starts
    // over at the next transaction by itself.
    if (log >= catchUpAt && Atomics.load(signals, slots.commits) !== seen) {
      catchUp();
      catchUpAt = log + restartPages;
    }
  }
} finally {
  db.close();
}
