import { Writable } from 'node:stream';
import { after, before } from 'node:test';
import type { RuntimeOptions } from '../../src/compose.js';
import { type Config, configWith } from '../../src/config.js';
import { type RunningServer, type ServerOptions, startServer } from '../../src/main.js';
import type { Scope } from '../../src/services/auth.js';
import { type Backend, sqliteBackend } from './backends.js';
import { type Client, clientFor } from './client.js';
import { assertNoLeaks } from './log-scan.js';

export interface TestServer {
  url: string;
  config: Config;
  server: RunningServer;
  /** Every log line the server wrote, parsed. */
  logs: Record<string, unknown>[];
  /** Every secret handed out during the test (keys), for log scans. */
  secrets: string[];
  databaseUrl: string;
  /** Mints an API key through the service (as the CLI does) and returns its secret. */
  mintKey(scopes: Scope[], options?: { rateLimitPerMinute?: number; expiresInSeconds?: number; name?: string }): Promise<string>;
  client(key?: string): Client;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  backend?: Backend;
  /** Use this database (for restarts on the same data) instead of a fresh one. */
  databaseUrl?: string;
  config?: Partial<Config>;
  /** Internal knobs of the server (e.g. short webhook retry delays). */
  server?: ServerOptions;
  /** What the runtime is built with (e.g. a limiter that counts its calls). */
  runtime?: RuntimeOptions;
}

/** Starts the real service on a free port on a fresh database of the chosen backend. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const backend = options.backend ?? sqliteBackend;
  const db = options.databaseUrl ? { url: options.databaseUrl, drop: async () => {} } : await backend.create();
  const config = configWith({ port: 0, host: '127.0.0.1', databaseUrl: db.url, logLevel: 'info', rateLimitPerMinute: 100_000, ...options.config });
  const logs: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      done();
    },
  });
  const server = await startServer(config, stream, options.server, options.runtime);
  const secrets: string[] = [];
  const url = server.url;
  return {
    url,
    config: { ...config, publicUrl: config.publicUrl },
    server,
    logs,
    secrets,
    databaseUrl: db.url,
    async mintKey(scopes, opts = {}) {
      const key = await server.runtime.services.apiKeys.create({ name: opts.name ?? 'test', scopes, ...opts });
      secrets.push(key.secret);
      return key.secret;
    },
    client: (key) => clientFor(url, key),
    async stop() {
      await server.stop();
      await db.drop();
      // Every log line of every test server is scanned: a secret in a log fails the test file.
      assertNoLeaks(logs.map((l) => JSON.stringify(l)), secrets, `the test server at ${url}`);
    },
  };
}

/**
 * The setup most suites share: a server on `backend` for the enclosing describe block, started
 * before its tests and stopped after them, with a client holding a key of `scopes`. The handles
 * are returned at once and forward to the real ones once `before` has run, so tests use them as
 * plain values.
 */
export function useServer(backend: Backend, scopes: Scope[] = ['write']): { server: TestServer; api: Client } {
  let current: { server: TestServer; api: Client } | undefined;
  before(async () => {
    const server = await startTestServer({ backend });
    current = { server, api: server.client(await server.mintKey(scopes)) };
  });
  after(() => current?.server.stop());
  const live = () => {
    if (!current) throw new Error('useServer: used before its before() hook ran');
    return current;
  };
  const forward = <T extends object>(pick: () => T) => new Proxy({} as T, { get: (_, key) => Reflect.get(pick(), key) });
  return { server: forward(() => live().server), api: forward(() => live().api) };
}
