import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import pg from 'pg';
import { randomId } from '../../src/adapters/ids.js';

/** A fresh, empty database for one test file; `drop` removes it. */
export interface Backend {
  name: 'sqlite' | 'postgres';
  create(): Promise<{ url: string; drop(): Promise<void> }>;
}

export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const inCI = process.env.CI === 'true';

export const sqliteBackend: Backend = {
  name: 'sqlite',
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'roster-test-'));
    return { url: join(dir, 'roster.db'), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  },
};

export const postgresBackend: Backend = {
  name: 'postgres',
  async create() {
    const name = randomId('roster_test_', 12);
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      async drop() {
        const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
        await c.connect();
        try {
          await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } finally {
          await c.end();
        }
      },
    };
  },
};

let postgresProbe: Promise<string | null> | undefined;

/** Null when PostgreSQL answers, else why not. */
export function postgresUnavailable(): Promise<string | null> {
  postgresProbe ??= (async () => {
    const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 10_000 });
    try {
      await c.connect();
      await c.query('select 1');
      return null;
    } catch (err) {
      return `PostgreSQL not reachable at ${POSTGRES_ADMIN_URL}: ${(err as Error).message}`;
    } finally {
      await c.end().catch(() => {});
    }
  })();
  return postgresProbe;
}

/**
 * Runs a suite once per store: SQLite always, PostgreSQL when it answers. Outside CI a missing
 * PostgreSQL skips its run with the reason printed; in CI it fails instead.
 */
export async function describeEachBackend(name: string, suite: (backend: Backend) => void): Promise<void> {
  describe(`${name} [sqlite]`, () => suite(sqliteBackend));
  const reason = await postgresUnavailable();
  if (reason === null) {
    describe(`${name} [postgres]`, () => suite(postgresBackend));
  } else if (inCI) {
    describe(`${name} [postgres]`, () => {
      throw new Error(`${reason} (required in CI)`);
    });
  } else {
    console.log(`# skipping ${name} [postgres]: ${reason}`);
    describe(`${name} [postgres]`, { skip: reason }, () => {});
  }
}
