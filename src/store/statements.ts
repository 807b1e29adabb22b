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
  let n = 0;
  const sql = dialect === 'postgres' ? text.replace(/\?/g, () => `$${++n}`) : text;
  return {
    async run(db, parameters) {
      const direct = dialect === 'sqlite' ? directStatement(db, sql) : undefined;
      if (direct) return direct.reader ? (direct.all(parameters) as Row[]) : (direct.run(parameters), []);
      const result = await db.executeQuery<Row>(CompiledQuery.raw(sql, parameters as unknown[]));
      return result.rows;
    },
  };
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
