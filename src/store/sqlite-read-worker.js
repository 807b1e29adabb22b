// @ts-check
/**
 * The read thread started by sqlite-reader.ts: a read-only connection of its own to the same
 * file, running the reads that may scan many rows, so that the server's thread goes on answering
 * meanwhile. Plain JavaScript, as sqlite-checkpoint-worker.js, so that it runs as it is from the
 * source tree too.
 */
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

/** @type {{ path: string, cacheKib: number }} */
const { path, cacheKib } = workerData;
const db = new SQLite(path, { readonly: true, fileMustExist: true });
db.pragma(`cache_size = -${cacheKib}`);
db.pragma('busy_timeout = 5000');

/** A few statements, each prepared once: the queries differ only by which filters are given. */
const statements = new Map();
const STATEMENTS_KEPT = 64;

/** @param {string} sql */
function prepared(sql) {
  let statement = statements.get(sql);
  if (!statement) {
    statement = db.prepare(sql).raw(true);
    if (statements.size >= STATEMENTS_KEPT) statements.clear();
    statements.set(sql, statement);
  }
  return statement;
}

parentPort?.on('message', (/** @type {{ id: number, sql?: string, parameters?: unknown[], close?: true }} */ message) => {
  if (message.close) {
    db.close();
    parentPort?.close();
    return;
  }
  try {
    parentPort?.postMessage({ id: message.id, rows: prepared(/** @type {string} */ (message.sql)).all(message.parameters ?? []) });
  } catch (err) {
    const e = /** @type {Error & { code?: string }} */ (err);
    parentPort?.postMessage({ id: message.id, error: { message: e.message, code: e.code } });
  }
});
