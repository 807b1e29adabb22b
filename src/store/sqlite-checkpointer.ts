import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type SQLite from 'better-sqlite3';

// The writer resets the WAL after a complete checkpoint and then truncates it to its own
// connection's limit: without one the file keeps the size of the largest burst forever.
const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
const INTERVAL_MS = 250;
// A WAL this long means readers kept the passive checkpoints from finishing (or a burst of
// writes outran them): a TRUNCATE checkpoint then waits for those readers and empties the file.
const LARGE_WAL_FRAMES = 10_000;
// A TRUNCATE checkpoint holds the write lock while it waits for readers, so the server's
// writers wait too: it gives up quickly, and does not try again for a while after giving up.
const TRUNCATE_BUSY_TIMEOUT_MS = 10;
const TRUNCATE_BACKOFF_MS = 5000;
const STOP_GRACE_MS = 5000;

// Plain CommonJS evaluated by the worker, so that it runs alike from dist/ and from src/ under
// tsx; the driver is required by its resolved path for the same reason.
const WORKER_BODY = `
const { parentPort, workerData: d } = require('node:worker_threads');
const Database = require(d.driver);
const db = new Database(d.path, { fileMustExist: true });
// A checkpoint's fsyncs follow the connection's synchronous setting: the same as the server's.
db.pragma('synchronous = ' + d.synchronous);
db.pragma('busy_timeout = ' + d.busyTimeoutMs);
let timer;
let truncateAfter = 0;
function tick() {
  try {
    const [{ log }] = db.pragma('wal_checkpoint(PASSIVE)');
    if (log > d.largeWalFrames && Date.now() >= truncateAfter) {
      const [{ busy }] = db.pragma('wal_checkpoint(TRUNCATE)');
      if (busy) truncateAfter = Date.now() + d.truncateBackoffMs;
    }
  } catch (err) {
    // Busy (another process recovering the WAL, say) passes; anything else ends the thread.
    if (!(err && typeof err.code === 'string' && err.code.startsWith('SQLITE_BUSY'))) throw err;
  }
  timer = setTimeout(tick, d.intervalMs);
}
parentPort.once('message', () => {
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
timer = setTimeout(tick, d.intervalMs);
`;

export interface SqliteCheckpointerOptions {
  synchronous: 'normal' | 'full';
  /** Told when the thread stops on its own (the connection then checkpoints in its commits again). */
  onWarning?: (message: string, err?: unknown) => void;
}

export interface SqliteCheckpointer {
  /** Stops the thread and closes its connection; call before closing `conn`. */
  stop(): Promise<void>;
}

/**
 * Copies `conn`'s WAL into the database file from a worker thread with its own connection, every
 * 250 ms. SQLite otherwise does all of that copying, fsyncs included, inside the commit that
 * crosses 1000 WAL pages, and better-sqlite3 runs that commit on the event loop. `conn` keeps its
 * automatic checkpoint: it now finds most pages already copied, and it is what lets the WAL start
 * over from its beginning, which only a checkpoint between two of `conn`'s own write transactions
 * can do under continuous writes (a thread's passive checkpoints alone let the WAL grow without
 * end). Passive checkpoints never block the server's readers or writers.
 */
export function startSqliteCheckpointer(conn: SQLite.Database, options: SqliteCheckpointerOptions): SqliteCheckpointer {
  conn.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
  const worker = new Worker(WORKER_BODY, {
    eval: true,
    // Without this the thread would load the parent's loaders (tsx) for a body that needs none.
    execArgv: [],
    workerData: {
      driver: createRequire(import.meta.url).resolve('better-sqlite3'),
      path: conn.name,
      synchronous: options.synchronous,
      busyTimeoutMs: TRUNCATE_BUSY_TIMEOUT_MS,
      intervalMs: INTERVAL_MS,
      largeWalFrames: LARGE_WAL_FRAMES,
      truncateBackoffMs: TRUNCATE_BACKOFF_MS,
    },
  });
  // The server's own handles decide when the process ends, not this thread.
  worker.unref();
  let stopping = false;
  let failure: unknown;
  worker.on('error', (err) => {
    failure = err;
  });
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', (code) => {
      // The connection's own checkpoints go on: commits only pay for all of the copying again.
      if (!stopping) options.onWarning?.(`the SQLite checkpoint thread stopped (exit code ${code}); checkpoints run in commits only`, failure);
      resolve();
    });
  });
  return {
    async stop() {
      if (!stopping) {
        stopping = true;
        // Held while stopping: an unreferenced thread's exit would not keep the process alive
        // long enough for the connection to close after it.
        worker.ref();
        worker.postMessage('stop');
      }
      let grace: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        grace = setTimeout(() => resolve('late'), STOP_GRACE_MS);
      });
      // A thread stuck in a checkpoint (a hung disk) must not hold up shutdown.
      if ((await Promise.race([exited, late])) === 'late') {
        worker.unref();
        void worker.terminate();
      }
      clearTimeout(grace);
    },
  };
}
