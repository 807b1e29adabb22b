import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A fresh database for one bench run: a SQLite file in `dir`, or, given a PostgreSQL server URL
 * (BENCH_DATABASE_URL), a new database on that server, dropped afterwards.
 */
export async function createDatabase(serverUrl: string | undefined, dir: string, name: string): Promise<{ url: string; drop(): Promise<void> }> {
  if (!serverUrl) return { url: join(dir, `${name}.db`), drop: async () => {} };
  const dbName = `roster_bench_${name}_${randomBytes(4).toString('hex')}`;
  const admin = async (statement: string) => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try {
      await c.query(statement);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${dbName}`);
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`) };
}
