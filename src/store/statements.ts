import { CompiledQuery, type Kysely } from 'kysely';
import type { Tables } from './tables.js';
import type { Dialect } from './database.js';
import { directStatement } from './sqlite-direct.js';

/**
 * A hot-path query written out as SQL once, instead of built and compiled by Kysely on every
 * call: the benchmark showed query building as a sixth of a PATCH's time. Only the parameters
 * change per call, so SQLite prepares it once (sqlite-dialect.ts) and PostgreSQL gets the same
 * text every time. Placeholders are written `?` and become `$1, $2, …` for
 * PostgreSQL. Used only for the few queries every request runs; the rest stay Kysely's.
 */
export interface Statement<Row> {
  /** Runs the statement on `db` (a connection or a transaction) and returns its rows. */
  run(db: Kysely<Tables>, parameters: readonly unknown[]): Promise<Row[]>;
}

export function statement<Row = Record<string, unknown>>(dialect: Dialect, text: string): Statement<Row> {
  const sql = forDialect(dialect, text);
  return {
    async run(db, parameters) {
      const direct = dialect === 'sqlite' ? directStatement(db, sql) : undefined;
      if (direct) return direct.reader ? (direct.all(parameters) as Row[]) : (direct.run(parameters), []);
      const result = await db.executeQuery<Row>(CompiledQuery.raw(sql, parameters as unknown[]));
      return result.rows;
    },
  };
}

/**
 * A statement that returns rows, each as an array of its values in the order of `columns` (the
 * names its SELECT or RETURNING list gives them). better-sqlite3 builds an object per row by
 * setting each column by name, which in a profile of `GET /v1/users/{id}` cost more than running
 * the query; an array costs a fraction of that. Rows that come through Kysely are objects, and
 * are put in the same order here.
 */
export function tupleStatement(dialect: Dialect, text: string, columns: readonly string[]): Statement<unknown[]> {
  const sql = forDialect(dialect, text);
  return { run: (db, parameters) => rawTuples(db, dialect, sql, parameters, columns) };
}

/** A query (one Kysely built, say) run as tupleStatement runs its text: rows as arrays in the order of `columns`. */
export function tuples(db: Kysely<Tables>, dialect: Dialect, query: CompiledQuery, columns: readonly string[]): Promise<unknown[][]> {
  return rawTuples(db, dialect, query.sql, query.parameters, columns, query);
}

async function rawTuples(
  db: Kysely<Tables>,
  dialect: Dialect,
  sql: string,
  parameters: readonly unknown[],
  columns: readonly string[],
  query?: CompiledQuery,
): Promise<unknown[][]> {
  const direct = dialect === 'sqlite' ? directStatement(db, sql, true) : undefined;
  if (direct) return direct.all(parameters) as unknown[][];
  // A CompiledQuery (frozen nodes and a query id) is built only on this path: the direct one
  // needs nothing but the text.
  const result = await db.executeQuery<Record<string, unknown>>(query ?? CompiledQuery.raw(sql, parameters as unknown[]));
  return result.rows.map((row) => columns.map((column) => row[column]));
}

/** Placeholders are written `?`; PostgreSQL numbers them. */
function forDialect(dialect: Dialect, text: string): string {
  let n = 0;
  return dialect === 'postgres' ? text.replace(/\?/g, () => `$${++n}`) : text;
}

/** One of a statement (or of a set of them) per dialect, made once at load. */
export function perDialect<T>(make: (dialect: Dialect) => T): Record<Dialect, T> {
  return { sqlite: make('sqlite'), postgres: make('postgres') };
}

/** One statement per key, made on first use: for SQL that depends on which columns a call sets. */
export function statementsByKey<Row = Record<string, unknown>>(make: (key: string) => Statement<Row>): (key: string) => Statement<Row> {
  const made = new Map<string, Statement<Row>>();
  return (key) => {
    let s = made.get(key);
    if (!s) made.set(key, (s = make(key)));
    return s;
  };
}
