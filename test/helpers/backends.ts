import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import pg from 'pg';
import { randomId } from '../../src/adapters/ids.js';
import { type Database, openDatabase } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrate.js';

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
  // Patient, with retries: on a loaded machine a first connection can take seconds, and a
  // skipped suite outside CI hides real failures.
  postgresProbe ??= (async () => {
    let reason = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 15_000 });
      try {
        await c.connect();
        await c.query('select 1');
        return null;
      } catch (err) {
        reason = `PostgreSQL not reachable at ${POSTGRES_ADMIN_URL}: ${(err as Error).message}`;
      } finally {
        await c.end().catch(() => {});
      }
    }
    return reason;
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

export const REDIS_TEST_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let redisProbe: Promise<string | null> | undefined;

/** Null when Redis answers PING, else why not. */
export function redisUnavailable(): Promise<string | null> {
  redisProbe ??= (async () => {
    const { Redis } = await import('ioredis');
    const client = new Redis(REDIS_TEST_URL, { lazyConnect: true, connectTimeout: 10_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      return null;
    } catch (err) {
      return `Redis not reachable at ${REDIS_TEST_URL}: ${(err as Error).message}`;
    } finally {
      client.disconnect();
    }
  })();
  return redisProbe;
}

/** A Redis key prefix no other run uses; remove its keys with `dropRedisPrefix`. */
export function uniqueRedisPrefix(): string {
  return `${randomId('roster_test_', 12)}:`;
}

/** Deletes every key under the prefix (SCAN + DEL, never KEYS or FLUSHDB: Redis may be shared). */
export async function dropRedisPrefix(prefix: string, url = REDIS_TEST_URL): Promise<void> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/**
 * Runs a suite that needs PostgreSQL and/or Redis only when each answers. Outside CI a missing
 * one skips the suite with the reason printed; in CI it fails instead.
 */
export async function describeWithServices(name: string, needs: ('postgres' | 'redis')[], suite: () => void): Promise<void> {
  const reasons: string[] = [];
  if (needs.includes('postgres')) {
    const r = await postgresUnavailable();
    if (r) reasons.push(r);
  }
  if (needs.includes('redis')) {
    const r = await redisUnavailable();
    if (r) reasons.push(r);
  }
  const reason = reasons.join('; ');
  if (reasons.length === 0) {
    describe(name, suite);
  } else if (inCI) {
    describe(name, () => {
      throw new Error(`${reason} (required in CI)`);
    });
  } else {
    console.log(`# skipping ${name}: ${reason}`);
    describe(name, { skip: reason }, () => {});
  }
}

/** A fresh database of `backend`, opened and migrated; `close` closes and removes it. */
export async function migratedDatabase(backend: Backend): Promise<{ database: Database; close(): Promise<void> }> {
  const { url, drop } = await backend.create();
  const database = openDatabase({ url });
  await migrateToLatest(database);
  return {
    database,
    async close() {
      await database.close();
      await drop();
    },
  };
}
