import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type PgModule from 'pg';
import { sqliteDialect } from './sqlite-dialect.js';
import { holdConnection, registerDirect, releaseConnection } from './sqlite-direct.js';
import { registerReader, startReader } from './sqlite-reader.js';
import { startCheckpointer } from './sqlite-checkpointer.js';
import { createGroupCommit } from './sqlite-group-commit.js';
import type { Tables } from './tables.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Database {
  readonly db: Kysely<Tables>;
  readonly dialect: Dialect;
  /** A human-readable name of where the data lives, without credentials. */
  readonly location: string;
  /**
   * Runs `fn` in a transaction and resolves once it has committed. On SQLite, transactions that
   * arrive together share one commit (see sqlite-group-commit.ts).
   */
  transaction<T>(fn: (db: Kysely<Tables>) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  url: string;
  poolSize?: number;
  statementTimeoutMs?: number;
  /** SQLite's `synchronous` in WAL mode: `normal` (default) or `full` (also survives power loss). */
  sqliteSynchronous?: 'normal' | 'full';
  /**
   * SQLite file: checkpoint the write-ahead log from a thread of its own (see
   * sqlite-checkpointer.ts). For the long-running server; a short command does without.
   */
  checkpointInBackground?: boolean;
  /** SQLite file: run reads that may scan a table on a thread of their own (see sqlite-reader.ts). For the server. */
  readsInBackground?: boolean;
  /** Hears why the checkpoint thread stopped (the connection then checkpoints by itself). */
  onCheckpointError?: (err: unknown) => void;
}

export function dialectOf(url: string): Dialect {
  return /^postgres(ql)?:\/\//.test(url) ? 'postgres' : 'sqlite';
}

/** `sqlite:/abs.db`, `sqlite:rel.db`, `sqlite:///abs.db` or a plain path → a file path. */
export function sqlitePath(url: string): string {
  if (url === ':memory:' || url === 'sqlite::memory:') return ':memory:';
  const path = url.startsWith('sqlite://') ? url.slice('sqlite://'.length) : url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  return resolve(path);
}

/** Creates an empty file readable by its owner only, unless one is there. */
function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** The SQLite file cannot be made or opened (a folder in its way, no permission, a directory given). */
export class DatabaseOpenError extends Error {}

/** The read thread's page cache, in KiB: its scans read each page once, and it counts toward the server's memory. */
const SQLITE_READER_CACHE_KIB = 2048;

/** SQLite's page cache per connection, in KiB. */
const SQLITE_CACHE_KIB = 4096;

/** Which file is at `path` (device and inode), or null if none is. */
function fileIdentity(path: string): string | null {
  try {
    const stat = statSync(path);
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return null;
  }
}

function openSqlite(options: DatabaseOptions): Database {
  const path = sqlitePath(options.url);
  const synchronous = options.sqliteSynchronous ?? 'normal';
  let conn: SQLite.Database;
  try {
    if (path !== ':memory:') {
      // The file holds signing keys, webhook secrets and password hashes: made private to this
      // user from the start (folders it creates too), and SQLite gives its -wal and -shm the
      // file's mode. An existing file keeps the mode its owner gave it.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      createPrivateFile(path);
    }
    conn = new SQLite(path);
  } catch (err) {
    throw new DatabaseOpenError(`cannot open the SQLite file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const identity = path === ':memory:' ? null : fileIdentity(path);
  // WAL lets the CLI and the server use the file at once; synchronous=NORMAL in WAL mode keeps
  // every committed transaction through a crash of the process (power loss may lose the last
  // few; SQLITE_SYNCHRONOUS=full keeps them too, at an fsync per commit); busy_timeout makes a
  // second process wait for the lock instead of failing.
  try {
    // The first statement to read the file: one that is not a SQLite database fails here.
    conn.pragma('journal_mode = WAL');
  } catch (err) {
    conn.close();
    throw new DatabaseOpenError(`cannot open the SQLite file ${path}: ${(err as Error).message}`, { cause: err });
  }
  conn.pragma(synchronous === 'full' ? 'synchronous = FULL' : 'synchronous = NORMAL');
  conn.pragma('busy_timeout = 5000');
  conn.pragma('foreign_keys = ON');
  // better-sqlite3 gives each connection a 16 MiB page cache. Under random reads of a large table
  // it fills, and peak memory rises by as much; at 4 MiB, reads and writes cost the same in
  // alternating benchmark runs (among 10,000 and 1,000,000 users), for 9 to 17 MiB less memory.
  conn.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
  const checkpointer =
    options.checkpointInBackground && path !== ':memory:' ? startCheckpointer(conn, path, options.onCheckpointError ?? (() => {})) : undefined;
  const db = new Kysely<Tables>({ dialect: sqliteDialect(conn, { taken: () => holdConnection(conn), released: () => releaseConnection(conn) }) });
  registerDirect(db, conn, false);
  const reader = options.readsInBackground && path !== ':memory:' ? startReader(path, SQLITE_READER_CACHE_KIB) : undefined;
  if (reader) registerReader(db, reader);
  const groupCommit = createGroupCommit(db, conn, checkpointer);
  return {
    db,
    dialect: 'sqlite',
    location: path,
    transaction: (fn) => groupCommit.transaction(fn),
    async ping() {
      await sql`select 1`.execute(db);
      // The file may be deleted or replaced under an open connection, which then writes to a file
      // no one will open again: not ready, so that it is seen (/readyz) before data is lost.
      if (identity !== null && fileIdentity(path) !== identity) throw new Error(`the SQLite file ${path} was removed or replaced while the server had it open`);
    },
    async close() {
      // The threads' connections close first: the last one to close folds the log into the file.
      await reader?.close();
      await checkpointer?.close();
      await db.destroy();
      // Kysely closes the connection only if a query of its own ever opened its driver.
      if (conn.open) conn.close();
      checkpointer?.release();
    },
  };
}

// The PostgreSQL driver is loaded only by a server that uses it: on SQLite it is dead weight.
const load = createRequire(import.meta.url);

function openPostgres(options: DatabaseOptions): Database {
  const pg = load('pg') as typeof PgModule;
  // int8 (bigint) as a JS number: the only int8 columns are sequence numbers, far below 2^53.
  const pgTypes = {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (oid === 20) return (value: string) => Number(value);
      return pg.types.getTypeParser(oid, format as 'text');
    },
  };
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    statement_timeout: options.statementTimeoutMs || undefined,
    connectionTimeoutMillis: 5000,
    types: pgTypes,
  });
  // An idle client that loses its server emits 'error' on the pool; without a listener that
  // would crash the process instead of failing the next query (which answers 503).
  pool.on('error', () => {});
  // A client that loses its server while checked out (mid-query or mid-transaction) emits 'error'
  // too, and the pool listens only to idle ones: without this the process would crash. Its
  // queries fail on their own (answered 503) and the pool discards it when it is released.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  const url = new URL(options.url);
  return {
    db,
    dialect: 'postgres',
    location: `postgres://${url.host}${url.pathname}`,
    transaction: (fn) => db.transaction().execute(fn),
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
}

export function openDatabase(options: DatabaseOptions): Database {
  return dialectOf(options.url) === 'postgres' ? openPostgres(options) : openSqlite(options);
}

/** The database did not answer when first asked (PostgreSQL down or unreachable, an unknown user or database). */
export class DatabaseConnectError extends Error {
  constructor(
    readonly location: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`cannot connect to ${location}: ${reason}`, options);
  }
}

/** An error's own words on one line; a failed connection to every address of a host has none of its own. */
function reasonOf(err: unknown): string {
  const e = err as Error & { code?: string; errors?: unknown[] };
  const text = e?.message || e?.errors?.map(reasonOf).join('; ') || e?.code || String(err);
  return text.replace(/\s*\n\s*/g, ' ');
}

/**
 * Opens the database and asks it one query, so that a process starting on a database it cannot
 * reach stops at once with the reason, rather than at its first request. Throws
 * DatabaseConnectError (DatabaseOpenError for a SQLite file that cannot be opened).
 */
export async function connectDatabase(options: DatabaseOptions): Promise<Database> {
  const database = openDatabase(options);
  try {
    await database.ping();
  } catch (err) {
    await database.close().catch(() => {});
    throw new DatabaseConnectError(database.location, reasonOf(err), { cause: err });
  }
  return database;
}
