import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDuration } from '../../src/cli/keys.js';
import { describeEachBackend } from '../helpers/backends.js';
import { type Client, uniqueUser } from '../helpers/client.js';
import { ROOT, type RunResult, runRoster } from '../helpers/cli.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = /^rk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/;

function assertOk(r: RunResult): void {
  assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
  assert.equal(r.stderr, '');
}

await describeEachBackend('roster keys, against the database of a running server', (backend) => {
  let server: TestServer;
  let admin: Client;
  let env: Record<string, string>;

  before(async () => {
    server = await startTestServer({ backend });
    admin = server.client(await server.mintKey(['admin']));
    env = { DATABASE_URL: server.databaseUrl, LOG_LEVEL: 'silent' };
  });
  after(() => server.stop());

  async function create(...args: string[]) {
    const r = await runRoster(['keys', 'create', ...args, '--json'], { env });
    assertOk(r);
    const key = JSON.parse(r.stdout);
    server.secrets.push(key.secret);
    return key;
  }

  it('create --json prints the key and its secret, which the server accepts at once', async () => {
    const key = await create('--name', 'cli-backend', '--scopes', 'read,write');
    assert.match(key.secret, SECRET);
    assert.match(key.id, /^key_[a-z0-9]{12}$/);
    assert.equal(key.name, 'cli-backend');
    assert.deepEqual(key.scopes, ['read', 'write']);
    assert.equal(key.expires_at, null);
    const res = await server.client(key.secret).post('/v1/users', { body: uniqueUser() });
    assert.equal(res.status, 201, res.text);
    const listed = (await admin.get('/v1/api-keys')).body.data.find((k: { id: string }) => k.id === key.id);
    assert.equal(listed.name, 'cli-backend');
  });

  // Output formats do not depend on the store: checked once, on SQLite, to keep the suite quick.
  const onceOnly = { skip: backend.name === 'postgres' ? 'checked on SQLite only: it does not depend on the store' : false };

  it('create without --json says the secret is shown once, and prints it on its own line', onceOnly, async () => {
    const r = await runRoster(['keys', 'create', '--name', 'human', '--scopes', 'read'], { env });
    assertOk(r);
    const secretLine = r.stdout.split('\n').find((l) => SECRET.test(l));
    assert.ok(secretLine, r.stdout);
    server.secrets.push(secretLine);
    assert.match(r.stdout, /once/);
    assert.equal((await server.client(secretLine).get('/v1/users')).status, 200);
  });

  it('create --expires-in and --rate-limit set the expiry and the key’s own limit', async () => {
    const key = await create('--name', 'limited', '--scopes', 'read', '--expires-in', '2h', '--rate-limit', '7');
    assert.equal(Date.parse(key.expires_at) - Date.parse(key.created_at), 2 * 3600_000);
    assert.equal(key.rate_limit_per_minute, 7);
    const res = await server.client(key.secret).get('/v1/users');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-ratelimit-limit'), '7');
  });

  it('list shows every active key, in JSON and as text, never a secret', onceOnly, async () => {
    const key = await create('--name', 'listed', '--scopes', 'admin');
    const json = await runRoster(['keys', 'list', '--json'], { env });
    assertOk(json);
    const { data } = JSON.parse(json.stdout);
    const mine = data.find((k: { id: string }) => k.id === key.id);
    assert.deepEqual(mine.scopes, ['admin']);
    for (const k of data) assert.ok(!('secret' in k));
    const text = await runRoster(['keys', 'list'], { env });
    assertOk(text);
    assert.match(text.stdout, new RegExp(`^${key.id}\\s+listed\\s+admin`, 'm'));
    for (const secret of server.secrets) {
      assert.ok(!json.stdout.includes(secret.slice(-43)) && !text.stdout.includes(secret.slice(-43)), 'no secret listed');
    }
  });

  it('revoke: the running server refuses the key within 5 seconds', async () => {
    const key = await create('--name', 'to-revoke', '--scopes', 'read');
    const c = server.client(key.secret);
    assert.equal((await c.get('/v1/users')).status, 200, 'the server has seen (and cached) the key');
    const r = await runRoster(['keys', 'revoke', key.id], { env });
    assertOk(r);
    assert.match(r.stdout, new RegExp(key.id));
    // Measured from the command's exit, so the bound holds with room to spare.
    await waitFor('the revoked key to be refused', async () => ((await c.get('/v1/users')).status === 401 ? true : undefined), 5000, 100);
    const res = await c.get('/v1/users');
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'unauthorized');
    assert.ok(!(await admin.get('/v1/api-keys')).body.data.some((k: { id: string }) => k.id === key.id), 'no longer listed');
    const again = await runRoster(['keys', 'revoke', key.id], { env });
    assert.notEqual(again.code, 0);
    assert.equal(again.stderr.trim().split('\n').length, 1);
    assert.match(again.stderr, /not found/i);
  });

  it('npx roster works in the checkout', onceOnly, async () => {
    const r = await runRoster(['--no', '--offline', 'roster', 'keys', 'list', '--json'], { env, cwd: ROOT, command: ['npx'] });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Array.isArray(JSON.parse(r.stdout).data));
  });
});

it('--expires-in takes seconds or a number with s, m, h or d', () => {
  for (const [text, seconds] of [['90', 90], ['90s', 90], ['15m', 900], ['2h', 7200], ['30d', 2_592_000]] as const) assert.equal(parseDuration(text), seconds, text);
  for (const text of ['', 'soon', '1w', '1.5h', '-5m', '2 h']) assert.throws(() => parseDuration(text), /--expires-in/, text);
});

describe('roster keys: invalid input', () => {
  let dir: string;
  let env: Record<string, string>;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'roster-cli-'));
    env = { DATABASE_URL: join(dir, 'roster.db'), LOG_LEVEL: 'silent' };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: [string, string[], RegExp][] = [
    ['an unknown scope', ['create', '--name', 'x', '--scopes', 'read,root'], /scope/],
    ['a bad --expires-in', ['create', '--name', 'x', '--scopes', 'read', '--expires-in', 'soon'], /--expires-in/],
    ['a negative --expires-in', ['create', '--name', 'x', '--scopes', 'read', '--expires-in', '-5m'], /expires-in/],
    ['a zero --rate-limit', ['create', '--name', 'x', '--scopes', 'read', '--rate-limit', '0'], /--rate-limit/],
    // What POST /v1/api-keys refuses, the CLI refuses: a key of `--expires-in 0` never expired.
    ['a zero --expires-in', ['create', '--name', 'x', '--scopes', 'read', '--expires-in', '0'], /--expires-in.*>= 60/],
    ['an --expires-in past ten years', ['create', '--name', 'x', '--scopes', 'read', '--expires-in', '99999999d'], /--expires-in/],
    ['a --rate-limit over the API\'s', ['create', '--name', 'x', '--scopes', 'read', '--rate-limit', '99999999'], /--rate-limit/],
    ['a control character in --name', ['create', '--name', 'a\u0001b', '--scopes', 'read'], /--name: Must not contain control characters/],
    ['a bad setting flag', ['list', '--log-level', 'loud'], /LOG_LEVEL/],
  ];

  it('exits non-zero with one line on stderr for each, and creates nothing', async () => {
    const results = await Promise.all(cases.map(([, args]) => runRoster(['keys', ...args], { env })));
    for (const [i, r] of results.entries()) {
      const [what, , pattern] = cases[i];
      assert.notEqual(r.code, 0, what);
      assert.equal(r.stdout, '', `${what}: nothing on stdout`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `${what}: one line, got ${JSON.stringify(r.stderr)}`);
      assert.match(lines[0], /^roster: /, what);
      assert.match(lines[0], pattern, what);
    }
    // Nothing at all: not even the database file, which listing does not create either.
    assert.equal(existsSync(env.DATABASE_URL), false, 'no database was made');
    const list = await runRoster(['keys', 'list', '--json'], { env });
    assert.equal(list.code, 2);
    assert.match(list.stderr, /^roster: no database at .*roster\.db \(DATABASE_URL\)/);
    assert.equal(existsSync(env.DATABASE_URL), false, 'listing made none');
  });
});

it('--help on any command prints the usage and succeeds, touching no database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-help-'));
  try {
    for (const args of [['serve', '--help'], ['keys', 'create', '--help'], ['migrate', '-h'], ['clients', 'list', '--help']]) {
      const r = await runRoster(args, { cwd: dir, env: { DATABASE_URL: join(dir, 'roster.db') } });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /^Usage:\nroster serve/, args.join(' '));
    }
    assert.equal(existsSync(join(dir, 'roster.db')), false, 'no database made');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
