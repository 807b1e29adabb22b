import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openRuntime } from '../../src/compose.js';
import { configWith } from '../../src/config.js';
import { migrations } from '../../src/store/migrations/index.js';

// `roster serve` with WORKERS=2, from the build (npm test builds first), as an operator runs it.
const BIN = join(import.meta.dirname, '../../bin/roster.js');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** One request on its own connection (no keep-alive), so that the cluster hands each to a worker in turn. */
function send(port: number, method: string, path: string, key?: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(payload ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, seconds = 30): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('roster serve with WORKERS=2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-workers-'));
  const databaseUrl = join(dir, 'roster.db');
  let child: ChildProcess;
  let port: number;
  let key: string;
  let limitedKey: string;
  let limitedKeyId: string;
  let adminKey: string;
  const lines: Record<string, any>[] = [];
  const requestLines = (filter: (l: Record<string, any>) => boolean = () => true) => lines.filter((l) => l.msg === 'request' && filter(l));

  before(async () => {
    const runtime = await openRuntime(configWith({ databaseUrl }));
    key = (await runtime.services.apiKeys.create({ name: 'workers', scopes: ['write'] })).secret;
    const limited = await runtime.services.apiKeys.create({ name: 'limited', scopes: ['read'], rateLimitPerMinute: 5 });
    limitedKey = limited.secret;
    limitedKeyId = limited.id;
    adminKey = (await runtime.services.apiKeys.create({ name: 'scraper', scopes: ['admin'] })).secret;
    await runtime.close();
    port = await freePort();
    child = spawn(process.execPath, [BIN, 'serve'], {
      env: { ...process.env, WORKERS: '2', PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: databaseUrl, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop()!;
      for (const p of parts) if (p.trim()) lines.push(JSON.parse(p));
    });
    await until('two workers listening', () => (lines.filter((l) => l.msg === 'roster listening').length === 2 ? true : undefined));
  });

  after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers from two processes on one port', async () => {
    const pids = await until('requests served by two processes', async () => {
      await Promise.all(Array.from({ length: 4 }, () => send(port, 'GET', '/healthz')));
      const seen = new Set(requestLines().map((l) => l.pid));
      return seen.size === 2 ? seen : undefined;
    });
    assert.ok(!pids.has(child.pid), 'the primary only forks; the workers serve');
  });

  it('writes from both workers at once without a database error', async () => {
    const created = await send(port, 'POST', '/v1/users', key, { email: `w-${Date.now()}@example.com`, username: `w${Date.now()}` });
    assert.equal(created.status, 201);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => send(port, 'PATCH', `/v1/users/${created.body.id}`, key, { first_name: `Name${i}` })));
    assert.deepEqual(results.map((r) => r.status), Array(40).fill(200));
    // Each worker writes its log lines in blocks, at least once a second: waited for.
    await until('both workers to log PATCH requests', () => (new Set(requestLines((l) => l.method === 'PATCH').map((l) => l.pid)).size === 2 ? true : undefined));
    const final = await send(port, 'GET', `/v1/users/${created.body.id}`, key);
    assert.match(final.body.first_name, /^Name\d+$/);
  });

  it('keeps one rate-limit budget per key across the workers', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await send(port, 'GET', '/v1/users', limitedKey)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    await until('the requests to be logged by both workers', () =>
      requestLines((l) => l.credential === limitedKeyId).length === 8 ? new Set(requestLines((l) => l.credential === limitedKeyId).map((l) => l.pid)).size === 2 || 'one worker' : undefined,
    ).then((spread) => assert.equal(spread, true, 'the requests were spread over both workers'));
  });

  it('refuses a key and an OAuth client\'s token revoked in one worker at once in every worker', async () => {
    const created = await send(port, 'POST', '/v1/api-keys', adminKey, { name: 'to revoke', scopes: ['read'] });
    assert.equal(created.status, 201);
    const client = await send(port, 'POST', '/v1/oauth-clients', adminKey, { name: 'to revoke', scopes: ['read'] });
    assert.equal(client.status, 201);
    const tokenResponse = await fetch(`http://127.0.0.1:${port}/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.body.client_id, client_secret: client.body.client_secret }),
    });
    assert.equal(tokenResponse.status, 200);
    const token = ((await tokenResponse.json()) as { access_token: string }).access_token;
    // Both workers have seen (and cached) both credentials.
    for (const credential of [created.body.secret, token]) {
      const statuses = await Promise.all(Array.from({ length: 6 }, () => send(port, 'GET', '/v1/users?limit=1', credential)));
      assert.deepEqual(statuses.map((r) => r.status), Array(6).fill(200));
    }
    assert.equal((await send(port, 'DELETE', `/v1/api-keys/${created.body.id}`, adminKey)).status, 204);
    assert.equal((await send(port, 'DELETE', `/v1/oauth-clients/${client.body.client_id}`, adminKey)).status, 204);
    for (const credential of [created.body.secret, token]) {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await send(port, 'GET', '/v1/users?limit=1', credential)).status);
      assert.deepEqual(statuses, Array(6).fill(401));
    }
  });

  it('answers /metrics with every worker\'s counts, whichever worker takes the scrape', async () => {
    const scrape = async () => {
      const text = await new Promise<string>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false, headers: { authorization: `Bearer ${adminKey}` } }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${res.statusCode} ${body}`))));
        });
        req.on('error', reject);
        req.end();
      });
      const line = text.split('\n').find((l) => l.startsWith('roster_http_request_duration_seconds_count{') && l.includes('route="/v1/users/:user_id"') && l.includes('method="GET"') && l.includes('status="404"'));
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    const before = await scrape();
    for (let i = 0; i < 6; i++) assert.equal((await send(port, 'GET', '/v1/users/usr_000000000000', key)).status, 404);
    // Connections go to the workers in turn: four scrapes reach both.
    const after = [await scrape(), await scrape(), await scrape(), await scrape()];
    assert.deepEqual(after, Array(4).fill(before + 6), `before ${before}, after ${after.join(', ')}`);
  });

  it('stops the primary and every worker on SIGTERM', async () => {
    const workers = [...new Set(requestLines().map((l) => l.pid as number))];
    assert.equal(workers.length, 2);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    await until('workers gone', () => (workers.every((pid) => !alive(pid)) ? true : undefined));
  });
});

it('exits 1 when its workers cannot start (the port is taken), instead of waiting forever, logging at LOG_LEVEL', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-workers-taken-'));
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  let child: ChildProcess | undefined;
  try {
    const port = (taken.address() as { port: number }).port;
    child = spawn(process.execPath, [BIN, 'serve'], {
      env: { ...process.env, WORKERS: '2', PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: join(dir, 'roster.db'), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    const code = await new Promise<number | null>((resolve) => child!.once('exit', (c) => resolve(c)));
    assert.equal(code, 1, stderr);
    assert.match(stderr, /EADDRINUSE/);
    assert.match(stderr, /a worker could not start/);
    // The primary's own lines keep to LOG_LEVEL=warn as well: its failure, not its start.
    const lines = stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { level: number; msg: string });
    assert.ok(lines.some((l) => l.level === 50 && l.msg === 'worker failed to start; stopping'), stdout);
    assert.deepEqual(lines.filter((l) => l.level < 40), [], 'nothing below warn');
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    taken.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it('logs the migrations the primary applied, as a single process does', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-workers-migrate-'));
  let child: ChildProcess | undefined;
  try {
    child = spawn(process.execPath, [BIN, 'serve'], {
      env: { ...process.env, WORKERS: '2', PORT: String(await freePort()), HOST: '127.0.0.1', DATABASE_URL: join(dir, 'roster.db'), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    const lines = () => stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { pid: number; msg: string; migrations?: string[] });
    await until('two workers listening', () => (lines().filter((l) => l.msg === 'roster listening').length === 2 ? true : undefined));
    const applied = lines().filter((l) => l.msg === 'applied migrations');
    assert.equal(applied.length, 1, stdout);
    assert.equal(applied[0].pid, child.pid, 'by the primary, which migrates before it forks');
    assert.deepEqual(applied[0].migrations, Object.keys(migrations));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (c) => resolve(c)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
