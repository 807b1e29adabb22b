import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { call, uniqueUser } from '../helpers/client.js';
import { runRoster, spawnRoster } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The JSON lines a process wrote so far; every line must be one. */
function jsonLines(text: string): Record<string, any>[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        throw new Error(`not a JSON log line: ${l}`);
      }
    });
}

describe('roster serve', () => {
  let cwd: string;
  before(() => {
    cwd = mkdtempSync(join(tmpdir(), 'roster-serve-'));
  });
  after(() => rmSync(cwd, { recursive: true, force: true }));

  it('creates ./data/roster.db, serves, logs one JSON line per request, and drains on SIGTERM', async () => {
    // PORT=0 picks a free port (8080 may be in use on a shared machine); everything else is the default.
    const server = spawnRoster(['serve'], { cwd, env: { PORT: '0' } });
    try {
      const url = await waitFor(
        'the server to listen',
        async () => {
          if (server.child.exitCode !== null) throw new Error(`exited: ${server.out.stderr}`);
          return jsonLines(server.out.stdout).find((l) => l.msg === 'roster listening')?.url as string | undefined;
        },
        60_000,
      );
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'listens on 127.0.0.1 by default');
      assert.ok(
        jsonLines(server.out.stdout).some((l) => l.level === 40 && String(l.msg).startsWith('PORT=0 without PUBLIC_URL')),
        'warns that the default PUBLIC_URL names port 0',
      );
      assert.ok(existsSync(join(cwd, 'data', 'roster.db')), './data/roster.db is created, with its folder');
      // It holds signing keys, webhook secrets and password hashes: for its owner's eyes only.
      const mode = (file: string) => (statSync(join(cwd, 'data', file)).mode & 0o777).toString(8);
      assert.deepEqual([mode('.'), mode('roster.db'), mode('roster.db-wal')], ['700', '600', '600']);

      const health = await call(url, 'GET', '/healthz', { headers: { 'x-request-id': 'serve-health' } });
      assert.equal(health.status, 200);
      assert.deepEqual(health.body, { status: 'ok' });
      // Lines are written in blocks, but a quiet server still writes what it has, within a second.
      await waitFor('the line of an idle server to be written', async () => (jsonLines(server.out.stdout).some((l) => l.request_id === 'serve-health') ? true : undefined), 30_000);

      // A key minted by the CLI, in the same folder, against the same default database.
      const minted = await runRoster(['keys', 'create', '--name', 'serve-test', '--scopes', 'write', '--json'], { cwd });
      assert.equal(minted.code, 0, minted.stderr);
      const key = JSON.parse(minted.stdout);
      const badSecret = `rk_${key.id.slice(4)}_${'Z'.repeat(43)}`;

      const created = await call(url, 'POST', '/v1/users', { key: key.secret, body: uniqueUser(), headers: { 'x-request-id': 'serve-create' } });
      assert.equal(created.status, 201, created.text);
      const missing = await call(url, 'GET', '/v1/users/usr_000000000000?email=secret%40example.com', { key: key.secret, headers: { 'x-request-id': 'serve-missing' } });
      assert.equal(missing.status, 404);
      const refused = await call(url, 'GET', '/v1/users', { key: badSecret, headers: { 'x-request-id': 'serve-refused' } });
      assert.equal(refused.status, 401);

      // A request in flight when SIGTERM arrives: the server has parsed its headers (its
      // "100 Continue" says so) but not yet received its body.
      const body = JSON.stringify(uniqueUser());
      let inFlightStatus = 0;
      const inFlight = new Promise<void>((resolve, reject) => {
        const req = httpRequest(
          `${url}/v1/users`,
          {
            method: 'POST',
            headers: {
              authorization: `Bearer ${key.secret}`,
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              'x-request-id': 'serve-inflight',
              expect: '100-continue',
            },
          },
          (res) => {
            inFlightStatus = res.statusCode ?? 0;
            res.resume();
            res.on('end', resolve);
          },
        );
        req.on('error', reject);
        req.on('continue', () => {
          server.child.kill('SIGTERM');
          waitFor('shutdown to begin', async () => (jsonLines(server.out.stdout).some((l) => l.msg === 'shutting down') ? true : undefined), 30_000).then(
            () => req.end(body),
            reject,
          );
        });
        req.flushHeaders();
      });
      await inFlight;
      assert.equal(inFlightStatus, 201, 'the request in flight completes');

      const exit = await server.done;
      assert.equal(exit.code, 0, `clean exit; stderr: ${exit.stderr}`);
      assert.equal(exit.stderr, '');

      const lines = jsonLines(exit.stdout);
      const requestLines = lines.filter((l) => l.msg === 'request');
      const expected: Record<string, { method: string; route: string | null; status: number; credential: string | null }> = {
        'serve-health': { method: 'GET', route: '/healthz', status: 200, credential: null },
        'serve-create': { method: 'POST', route: '/v1/users', status: 201, credential: key.id },
        'serve-missing': { method: 'GET', route: '/v1/users/:user_id', status: 404, credential: key.id },
        'serve-refused': { method: 'GET', route: '/v1/users', status: 401, credential: null },
        'serve-inflight': { method: 'POST', route: '/v1/users', status: 201, credential: key.id },
      };
      for (const [id, want] of Object.entries(expected)) {
        const mine = requestLines.filter((l) => l.request_id === id);
        assert.equal(mine.length, 1, `one line for ${id}`);
        const l = mine[0];
        assert.deepEqual({ method: l.method, route: l.route, status: l.status, credential: l.credential }, want, id);
        assert.equal(typeof l.latency_ms, 'number');
        assert.ok(l.latency_ms >= 0);
      }
      const all = exit.stdout;
      for (const secret of [key.secret, key.secret.slice(-43), badSecret.slice(-43)]) assert.ok(!all.includes(secret), 'no secret in the log');
      assert.ok(!/authorization/i.test(all), 'no Authorization header in the log');
      assert.ok(!all.includes('secret@example.com'), 'no query string in the log');
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
  });

  it('on SQLite, without Redis or SMTP, does not load the PostgreSQL, Redis or SMTP clients', async () => {
    // Each would add megabytes of memory to a server that never uses it.
    const script = `
      import { createRequire } from 'node:module';
      const { startServer } = await import('./dist/main.js');
      const { configWith } = await import('./dist/config.js');
      const server = await startServer(configWith({ databaseUrl: ':memory:', port: 0 }), { write() {} });
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((f) => /node_modules\\/(pg|ioredis|nodemailer)\\//.test(f));
      await server.stop();
      console.log(JSON.stringify(loaded));`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr || String(err))) : resolve(stdout))),
    );
    assert.deepEqual(JSON.parse(out), []);
  });

  const invalid: [string, Record<string, string>, string[], RegExp][] = [
    ['PORT=abc', { PORT: 'abc' }, [], /\bPORT\b/],
    ['PORT=70000', { PORT: '70000' }, [], /\bPORT\b/],
    ['--port abc', {}, ['--port', 'abc'], /\bPORT\b/],
    ['ROLES with a bad name', { ROLES: 'admin,Bad Name' }, [], /\bROLES\b/],
    ['DEFAULT_ROLE not in ROLES', { ROLES: 'owner,guest', DEFAULT_ROLE: 'member' }, [], /\bDEFAULT_ROLE\b/],
    ['LOG_LEVEL=loud', { LOG_LEVEL: 'loud' }, [], /\bLOG_LEVEL\b/],
    ['RATE_LIMIT_PER_MINUTE=0', { RATE_LIMIT_PER_MINUTE: '0' }, [], /\bRATE_LIMIT_PER_MINUTE\b/],
    // Another scheme would have become a SQLite file of that name.
    ['DATABASE_URL=mysql://…', { DATABASE_URL: 'mysql://user@db/roster' }, [], /\bDATABASE_URL\b/],
    ['DATABASE_URL=http://…', { DATABASE_URL: 'http://db/roster' }, [], /\bDATABASE_URL\b/],
    ['PUBLIC_URL with a query', { PUBLIC_URL: 'https://users.example.com/?x=1' }, [], /\bPUBLIC_URL\b/],
    ['PUBLIC_URL with a fragment', { PUBLIC_URL: 'https://users.example.com/#top' }, [], /\bPUBLIC_URL\b/],
    ['EMAIL_FROM without an address', { EMAIL_FROM: 'Roster' }, [], /\bEMAIL_FROM\b/],
    // A space kept would be part of the OAuth issuer, every link and the audience compared with.
    ['PUBLIC_URL with a trailing space', { PUBLIC_URL: 'https://users.example.com ' }, [], /^roster: Invalid PUBLIC_URL \(--public-url\): has whitespace/],
    ['--public-url with a leading space', {}, ['--public-url', ' https://users.example.com'], /^roster: Invalid PUBLIC_URL \(--public-url\): has whitespace/],
    ['OAUTH_ISSUER with a trailing newline', { OAUTH_ISSUER: 'https://issuer.example.com\n' }, [], /^roster: Invalid OAUTH_ISSUER .*has whitespace/],
    ['OAUTH_AUDIENCE with a trailing space', { OAUTH_ISSUER: 'https://issuer.example.com', OAUTH_AUDIENCE: 'api ' }, [], /^roster: Invalid OAUTH_AUDIENCE .*has whitespace/],
    ['DATABASE_URL with a leading space', { DATABASE_URL: ' ./roster.db' }, [], /^roster: Invalid DATABASE_URL .*has whitespace/],
    // Without an issuer it would be ignored, and no external token accepted.
    ['OAUTH_JWKS_URL without OAUTH_ISSUER', { OAUTH_JWKS_URL: 'https://issuer.example.com/jwks' }, [], /^roster: Invalid OAUTH_JWKS_URL \(--oauth-jwks-url\): it needs OAUTH_ISSUER$/],
    ['HOST that is a space', { HOST: ' ' }, [], /^roster: Invalid HOST .*has whitespace/],
    ['REDIS_URL with a trailing tab, not shown', { REDIS_URL: 'redis://:S3cret-Pw@redis.internal:6379\t' }, [], /^roster: Invalid REDIS_URL \(--redis-url\): has whitespace at its start or end$/],
    ['DATABASE_URL=sqlite: with no path', { DATABASE_URL: 'sqlite:' }, [], /\bDATABASE_URL\b/],
    // Named, without the password it holds: the line goes to the log.
    ['REDIS_URL with a bad port', { REDIS_URL: 'redis://:S3cret-Pw@redis.internal:99999' }, [], /^roster: Invalid REDIS_URL .*"redis:\/\/\*\*\*@redis\.internal:99999"$/],
    ['SMTP_URL with a bad port', { SMTP_URL: 'smtp://mailer:S3cret@Pw@smtp.example.com:5870000' }, [], /^roster: Invalid SMTP_URL .*"smtp:\/\/\*\*\*@smtp\.example\.com:5870000"$/],
  ];

  it('refuses an invalid setting with one stderr line naming it, before touching any data', async () => {
    const dirs = invalid.map(() => mkdtempSync(join(tmpdir(), 'roster-badcfg-')));
    try {
      const results = await Promise.all(
        invalid.map(([, env, args], i) => {
          // A value taken for valid starts a server: stopped, so that the test fails rather than waits.
          const run = spawnRoster(['serve', ...args], { cwd: dirs[i], env });
          const timer = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
          return run.done.finally(() => clearTimeout(timer));
        }),
      );
      for (const [i, r] of results.entries()) {
        const [what, , , names] = invalid[i];
        assert.notEqual(r.code, 0, what);
        const lines = r.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 1, `${what}: one line, got ${JSON.stringify(r.stderr)}`);
        assert.match(lines[0], names, what);
        assert.ok(!existsSync(join(dirs[i], 'data')), `${what}: no database created`);
      }
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });

  it('names the setting in one line when the database cannot be opened or reached, or the address cannot be taken', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roster-badstart-'));
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      writeFileSync(join(dir, 'afile'), '');
      writeFileSync(join(dir, 'notes.txt'), 'not a database\n'.repeat(100));
      const port = String((taken.address() as AddressInfo).port);
      // A port nothing listens on: a PostgreSQL server that is down.
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      const postgresDown = { DATABASE_URL: `postgres://roster@127.0.0.1:${closedPort}/roster` };
      const notConnected = new RegExp(`^roster: cannot connect to postgres://127\\.0\\.0\\.1:${closedPort}/roster \\(DATABASE_URL\\): .*ECONNREFUSED`);
      const cases: [string, Record<string, string>, number, RegExp, string[]?][] = [
        ['a file where its folder should be', { DATABASE_URL: join(dir, 'afile', 'x.db') }, 2, /^roster: invalid DATABASE_URL .*afile/],
        ['a directory', { DATABASE_URL: dir }, 2, /^roster: invalid DATABASE_URL /],
        ['a file that is not a SQLite database', { DATABASE_URL: join(dir, 'notes.txt') }, 2, /^roster: invalid DATABASE_URL .*notes\.txt: file is not a database$/],
        ['a PostgreSQL server that is down', postgresDown, 1, notConnected],
        ['a PostgreSQL server that is down, with workers', { ...postgresDown, WORKERS: '2' }, 1, notConnected],
        ['a PostgreSQL server that is down, for roster keys list', postgresDown, 1, notConnected, ['keys', 'list']],
        ['a PostgreSQL server that is down, for roster migrate', postgresDown, 1, notConnected, ['migrate']],
        ['an address not of this machine', { DATABASE_URL: join(dir, 'a.db'), HOST: '192.0.2.1', PORT: '0' }, 1, /^roster: cannot listen on 192\.0\.2\.1 port 0 \(HOST, PORT\): .*EADDRNOTAVAIL/],
        ['a port in use', { DATABASE_URL: join(dir, 'b.db'), PORT: port }, 1, /^roster: cannot listen on 127\.0\.0\.1 port \d+ \(HOST, PORT\): .*EADDRINUSE/],
      ];
      for (const [what, env, code, line, args = ['serve']] of cases) {
        const r = await runRoster(args, { cwd: dir, env });
        assert.equal(r.code, code, `${what}: ${r.stderr}`);
        const lines = r.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 1, `${what}: one line, got ${JSON.stringify(r.stderr)}`);
        assert.match(lines[0], line, what);
      }
      assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'not a database\n'.repeat(100), 'a file that is not a database is left as it was');
    } finally {
      taken.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
