import type SQLite from 'better-sqlite3';
import { CompiledQuery, type DatabaseConnection, type Driver, SqliteDialect, SqliteDriver, type SqliteDialectConfig } from 'kysely';
import { lockWaitOf } from './sqlite-lock-wait.js';

/**
 * Kysely's SQLite dialect with four changes:
 *
 * - Transactions begin IMMEDIATE, taking the write lock up front, for the processes that share
 *   one file (the `roster serve` workers, the CLI beside the server). A deferred BEGIN that reads
 *   and then writes fails at once with SQLITE_BUSY when another process wrote in between (WAL
 *   cannot upgrade a stale snapshot, and busy_timeout does not apply); IMMEDIATE waits its turn
 *   instead. Every transaction here writes, so nothing is lost by taking the lock first.
 * - Prepared statements are kept by their SQL text. Kysely prepares each query anew, which costs
 *   more than running it; the texts are few (the query shapes of the store), and the cache is
 *   bounded all the same. Reuse is safe: Kysely runs one query at a time on the connection.
 * - The driver reports when Kysely takes the connection and gives it back: the statements run at
 *   once beside Kysely (sqlite-direct.ts) must end their read snapshot first and open none meanwhile.
 * - A write outside a transaction (a key's `last_used_at`, the webhook worker's claims) and a
 *   BEGIN wait for another process's write lock from a timer (sqlite-lock-wait.ts), not in
 *   SQLite's sleeping wait, which stopped the whole server, reads included, for up to 5 s.
 */
export function sqliteDialect(conn: SQLite.Database, holding: ConnectionHolding): SqliteDialect {
  return new CachingSqliteDialect({ database: cachingStatements(conn) }, conn, holding);
}

/** Told when Kysely takes the connection, and when it gives it back. */
export interface ConnectionHolding {
  taken(): void;
  released(): void;
}

const STATEMENT_CACHE_SIZE = 500;

/** Per connection: statements by SQL text, apart for those in raw mode (keyed by the same text). */
interface StatementCache {
  objects: Map<string, SQLite.Statement>;
  raw: Map<string, SQLite.Statement>;
}
const caches = new WeakMap<SQLite.Database, StatementCache>();

/**
 * `conn`'s statement for `sql`, prepared once: Kysely's queries and the store's hot statements
 * share it. With `raw`, a statement of its own whose rows are arrays (Kysely's must stay objects).
 */
export function preparedStatement(conn: SQLite.Database, sql: string, raw = false): SQLite.Statement {
  let cache = caches.get(conn);
  if (!cache) caches.set(conn, (cache = { objects: new Map(), raw: new Map() }));
  const statements = raw ? cache.raw : cache.objects;
  let statement = statements.get(sql);
  if (!statement) {
    statement = conn.prepare(sql);
    if (raw) statement.raw(true);
    if (statements.size >= STATEMENT_CACHE_SIZE) statements.clear();
    statements.set(sql, statement);
  }
  return statement;
}

function cachingStatements(conn: SQLite.Database): SqliteDialectConfig['database'] {
  return {
    prepare: (sql: string) => preparedStatement(conn, sql),
    close() {
      caches.delete(conn);
      conn.close();
    },
  } as SqliteDialectConfig['database'];
}

class ImmediateSqliteDriver extends SqliteDriver {
  readonly #conn: SQLite.Database;
  readonly #holding: ConnectionHolding;
  #unblocking: DatabaseConnection | undefined;

  constructor(config: SqliteDialectConfig, conn: SQLite.Database, holding: ConnectionHolding) {
    super(config);
    this.#conn = conn;
    this.#holding = holding;
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection();
    this.#holding.taken();
    this.#unblocking ??= unblockingWrites(connection, this.#conn);
    return this.#unblocking;
  }

  override async releaseConnection(): Promise<void> {
    this.#holding.released();
    await super.releaseConnection();
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    // SQLite counts BEGIN as read-only, though IMMEDIATE takes the write lock.
    await lockWaitOf(this.#conn)(() => connection.executeQuery(CompiledQuery.raw('begin immediate')));
  }
}

/** `connection`, with writes outside a transaction waiting for the write lock from a timer. */
function unblockingWrites(connection: DatabaseConnection, conn: SQLite.Database): DatabaseConnection {
  const lockWait = lockWaitOf(conn);
  return {
    executeQuery<R>(query: CompiledQuery) {
      // Inside a transaction the lock is held already, and a read takes none.
      if (conn.inTransaction || preparedStatement(conn, query.sql).readonly) return connection.executeQuery<R>(query);
      return lockWait(() => connection.executeQuery<R>(query));
    },
    streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
  };
}

class CachingSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  readonly #conn: SQLite.Database;
  readonly #holding: ConnectionHolding;

  constructor(config: SqliteDialectConfig, conn: SQLite.Database, holding: ConnectionHolding) {
    super(config);
    this.#config = config;
    this.#conn = conn;
    this.#holding = holding;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config, this.#conn, this.#holding);
  }
}
