import type SQLite from 'better-sqlite3';
import type { Kysely } from 'kysely';
import type { Checkpointer } from './sqlite-checkpointer.js';
import { registerDirect, unregisterDirect } from './sqlite-direct.js';
import { lockWaitOf } from './sqlite-lock-wait.js';
import type { Tables } from './tables.js';

/**
 * Transactions that arrive while one runs are carried by the same commit: each in a savepoint of
 * its own, so it fails alone, and each answered only once the commit that holds it is durable.
 *
 * Why: a commit writes every page its transactions changed to the WAL, two system calls per page.
 * Concurrent changes share pages (the end of the events table and of its indexes), so a commit
 * for several writes far fewer pages than one commit each; the benchmark's PATCH spends most of
 * its SQLite time there. The one connection is held for the whole batch, as a single transaction
 * would hold it, so no other query reads what is not yet committed. Alone, a transaction costs
 * what it did: BEGIN, its savepoint, COMMIT.
 */
const MAX_BATCH = 32;

interface Job {
  fn: (db: Kysely<Tables>) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** `checkpointer` hears of each commit, and may ask the next transaction to wait. */
export function createGroupCommit(db: Kysely<Tables>, conn: SQLite.Database, checkpointer?: Pick<Checkpointer, 'committed' | 'writable'>) {
  const begin = conn.prepare('begin immediate');
  const lockWait = lockWaitOf(conn);
  const savepoint = conn.prepare('savepoint job');
  const release = conn.prepare('release job');
  const rollbackToSavepoint = conn.prepare('rollback to job');
  const commit = conn.prepare('commit');
  const rollback = conn.prepare('rollback');
  const queue: Job[] = [];
  let draining = false;

  /** One BEGIN … COMMIT for the jobs queued when it starts and those that join while it runs. */
  async function runBatch(trx: Kysely<Tables>): Promise<void> {
    try {
      // While another process holds the write lock, the event loop goes on answering reads, and
      // the writes that arrive join the batch. Failing to get the lock fails every job waiting,
      // as each one's own BEGIN would have.
      await lockWait(() => begin.run());
    } catch (err) {
      for (const job of queue.splice(0)) job.reject(err);
      return;
    }
    const done: { job: Job; value: unknown }[] = [];
    /** Ends the batch without a commit: whatever it wrote is undone, so every job in it fails. */
    const abort = (err: unknown): void => {
      try {
        if (conn.inTransaction) rollback.run();
      } finally {
        for (const d of done) d.job.reject(err);
      }
    };
    while (queue.length > 0 && done.length < MAX_BATCH) {
      const job = queue.shift()!;
      try {
        savepoint.run();
      } catch (err) {
        job.reject(err);
        return abort(err);
      }
      let value: unknown;
      try {
        value = await job.fn(trx);
      } catch (err) {
        job.reject(err);
        try {
          // SQLite may have ended the whole transaction itself (a disk error, say): then the
          // batch went with it.
          if (!conn.inTransaction) return abort(err);
          rollbackToSavepoint.run();
          release.run();
        } catch (rollbackErr) {
          return abort(rollbackErr);
        }
        continue;
      }
      try {
        release.run();
      } catch (err) {
        job.reject(err);
        return abort(err);
      }
      done.push({ job, value });
    }
    try {
      commit.run();
    } catch (err) {
      return abort(err);
    }
    checkpointer?.committed();
    for (const d of done) d.job.resolve(d.value);
  }

  async function drain(): Promise<void> {
    try {
      // The connection is taken anew for each batch, so reads waiting for it go in between.
      while (queue.length > 0) {
        const hold = checkpointer?.writable();
        if (hold) await hold;
        await db.connection().execute(async (trx) => {
          registerDirect(trx, conn, true);
          try {
            await runBatch(trx);
          } finally {
            unregisterDirect(trx);
          }
        });
      }
    } catch (err) {
      for (const job of queue.splice(0)) job.reject(err);
    } finally {
      draining = false;
    }
  }

  return {
    /** Runs `fn` in a transaction on SQLite's one connection; resolves after its commit. */
    transaction<T>(fn: (db: Kysely<Tables>) => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
        if (draining) return;
        draining = true;
        // better-sqlite3 answers at once, so a transaction started now would run to its commit
        // before the event loop reads another request. Started after the loop's current turn,
        // it finds queued every request that arrived in that turn, and commits them together.
        setImmediate(drain);
      });
    },
  };
}
