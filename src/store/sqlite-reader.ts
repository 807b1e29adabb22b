import { Worker } from 'node:worker_threads';

/**
 * Reads that may scan much of a table, run on a thread of their own with a read-only connection.
 *
 * Why: better-sqlite3 answers on the thread that asks, and a filtered list scans users in `seq`
 * order until it has a page: a `q` prefix that few users have scans nearly all of them, 286 ms
 * among 1,000,000, during which the server answered nobody. On the thread, such a read costs the
 * same, but the server goes on serving meanwhile. Its connection reads what is committed: what
 * this process answered before the read was asked is there.
 */
export interface SqliteReader {
  /** The rows of a read-only statement, each an array of its values in SELECT order. */
  all(sql: string, parameters: readonly unknown[]): Promise<unknown[][]>;
  close(): Promise<void>;
}

type Reply = { id: number; rows?: unknown[][]; error?: { message: string; code?: string } };

export function startReader(path: string, cacheKib: number): SqliteReader {
  const worker = new Worker(new URL('./sqlite-read-worker.js', import.meta.url), { workerData: { path, cacheKib } });
  // An idle thread does not keep the process alive; one with reads under way does (see all).
  worker.unref();
  const pending = new Map<number, { resolve: (rows: unknown[][]) => void; reject: (err: Error) => void }>();
  let next = 0;
  let failure: Error | undefined;
  const failAll = (err: Error) => {
    failure = err;
    for (const { reject } of pending.values()) reject(err);
    pending.clear();
  };
  worker.on('message', ({ id, rows, error }: Reply) => {
    const call = pending.get(id);
    if (!call) return;
    pending.delete(id);
    if (pending.size === 0) worker.unref();
    if (error) call.reject(Object.assign(new Error(error.message), { code: error.code }));
    else call.resolve(rows ?? []);
  });
  worker.on('error', failAll);
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', () => {
      failAll(failure ?? new Error('the SQLite read thread stopped'));
      resolve();
    });
  });
  return {
    all(sql, parameters) {
      if (failure) return Promise.reject(failure);
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.ref();
        worker.postMessage({ id, sql, parameters });
      });
    },
    async close() {
      if (!failure) {
        // Held open until the thread has closed its connection and ended.
        worker.ref();
        worker.postMessage({ id: -1, close: true });
      }
      await exited;
    },
  };
}

const readers = new WeakMap<object, SqliteReader>();

/** Gives the connection handle `handle` (a Kysely instance) its read thread. */
export function registerReader(handle: object, reader: SqliteReader): void {
  readers.set(handle, reader);
}

/** The read thread of `handle`, or undefined (a transaction's handle, a CLI's, PostgreSQL). */
export function readerFor(handle: object): SqliteReader | undefined {
  return readers.get(handle);
}
