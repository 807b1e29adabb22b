import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import { describeEachBackend } from '../helpers/backends.js';
import { type Client, uniqueUser } from '../helpers/client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

/**
 * The seed page, copied verbatim into the repository so the suite runs anywhere; where the
 * original is at hand, the copy must still match it.
 */
const SEED_COPY = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'seed', 'update-user.md');
const SEED_ORIGINAL = process.env.ROSTER_SEED_PAGE ?? '/work/shared/seed/update-user.md';
const seed = readFileSync(SEED_COPY, 'utf8');

/** The first fenced block of `lang` after the heading `heading`. */
function block(heading: string, lang: string): string {
  const at = seed.indexOf(heading);
  assert.ok(at >= 0, `the seed has "${heading}"`);
  const match = new RegExp('```' + lang + '\\n([\\s\\S]*?)\\n```').exec(seed.slice(at));
  assert.ok(match, `a ${lang} block after "${heading}"`);
  return match[1];
}

const SEED_HOST = 'https://api.example.com';
const SEED_USER_ID = 'usr_123abc456def';

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const pythonProbe = spawnSync('python3', ['-c', 'import requests'], { encoding: 'utf8' });
const pythonMissing =
  pythonProbe.error !== undefined ? `python3 is not installed (${pythonProbe.error.message})` : pythonProbe.status !== 0 ? `python3 cannot import requests: ${pythonProbe.stderr.trim().split('\n').pop()}` : null;
if (pythonMissing) console.log(`# skipping the seed's Python example: ${pythonMissing}`);
const curlProbe = spawnSync('curl', ['--version'], { encoding: 'utf8' });
const curlMissing = curlProbe.error !== undefined || curlProbe.status !== 0 ? `curl is not installed (${curlProbe.error?.message ?? curlProbe.stderr})` : null;
if (curlMissing) console.log(`# skipping the seed's cURL example: ${curlMissing}`);

it('the seed copy in test/fixtures matches the seed page', { skip: existsSync(SEED_ORIGINAL) ? false : `${SEED_ORIGINAL} is not on this machine` }, () => {
  assert.equal(seed, readFileSync(SEED_ORIGINAL, 'utf8'));
});

await describeEachBackend("the seed's own examples, run as written against the live server", (backend) => {
  let server: TestServer;
  let key: string;
  let api: Client;

  before(async () => {
    server = await startTestServer({ backend });
    key = await server.mintKey(['write']);
    api = server.client(key);
  });
  after(() => server.stop());

  async function createUser() {
    const res = await api.post('/v1/users', { body: { ...uniqueUser('seed'), first_name: 'John', last_name: 'Doe', role: 'member' } });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  /** Only the host changes, and the placeholders the reader would replace. */
  const localize = (text: string, userId: string) => {
    assert.ok(text.includes(SEED_HOST) && text.includes('YOUR_API_KEY') && text.includes(SEED_USER_ID), 'the example has what is replaced');
    return text.replaceAll(SEED_HOST, server.url).replaceAll('YOUR_API_KEY', key).replaceAll(SEED_USER_ID, userId);
  };

  /** Frees the address the examples use, for the next example on this server. */
  async function freeSeedEmail() {
    const holders = (await api.get('/v1/users?email=newemail@example.com')).body.data as { id: string }[];
    for (const u of holders) assert.equal((await api.delete(`/v1/users/${u.id}`)).status, 204);
  }

  it("the request body example answers the success response example", async () => {
    await freeSeedEmail();
    const user = await createUser();
    const request = JSON.parse(block('## Request Body', 'json'));
    const expected = JSON.parse(block('### Success Response (200 OK)', 'json'));
    const res = await api.patch(`/v1/users/${user.id}`, { body: request });
    assert.equal(res.status, 200, res.text);
    const { id, created_at, updated_at, email_verified, metadata, ...rest } = res.body;
    assert.equal(id, user.id);
    assert.equal(created_at, user.created_at);
    assert.match(updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(email_verified, false);
    assert.deepEqual(metadata, {});
    const { id: _id, created_at: _c, updated_at: _u, ...seedRest } = expected;
    assert.deepEqual(rest, seedRest);
    assert.deepEqual(Object.keys(expected).filter((k) => !(k in res.body)), [], 'every field of the seed response');
  });

  it('each error response example, to the letter', async () => {
    const user = await createUser();
    const badRequest = JSON.parse(block('#### 400 Bad Request', 'json'));
    const res400 = await api.patch(`/v1/users/${user.id}`, { body: { email: 'not-an-email' } });
    assert.equal(res400.status, 400);
    assert.deepEqual(res400.body, badRequest);

    const notFound = JSON.parse(block('#### 404 Not Found', 'json'));
    const res404 = await api.patch(`/v1/users/${SEED_USER_ID}`, { body: { first_name: 'Jane' } });
    assert.equal(res404.status, 404);
    assert.deepEqual(res404.body, notFound);

    const conflict = JSON.parse(block('#### 409 Conflict', 'json'));
    const other = await createUser();
    const res409 = await api.patch(`/v1/users/${user.id}`, { body: { username: other.username } });
    assert.equal(res409.status, 409);
    assert.deepEqual(res409.body, conflict);
  });

  it('the cURL command', { skip: curlMissing ?? false }, async () => {
    await freeSeedEmail();
    const user = await createUser();
    const command = localize(block('### Using cURL', 'bash'), user.id);
    assert.match(command, /^curl -X PATCH /);
    const { code, stdout, stderr } = await run('bash', ['-c', command]);
    assert.equal(code, 0, stderr);
    const body = JSON.parse(stdout);
    assert.deepEqual(body, { ...user, email: 'newemail@example.com', first_name: 'Jane', last_name: 'Smith', updated_at: body.updated_at });
    assert.deepEqual((await api.get(`/v1/users/${user.id}`)).body, body);

    // Run again for another user, the address is taken: the seed's 409, with the right message.
    const second = await createUser();
    const again = await run('bash', ['-c', localize(block('### Using cURL', 'bash'), second.id)]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), { error: 'conflict', message: 'Email already taken' });
  });

  it('the Python requests snippet', { skip: pythonMissing ?? false }, async () => {
    await freeSeedEmail();
    const user = await createUser();
    const snippet = localize(block('### Using Python', 'python'), user.id);
    // The snippet as written, then what a reader would do with `response`.
    const program = `${snippet}\n\nimport json\nprint(json.dumps({"status": response.status_code, "etag": response.headers.get("ETag"), "body": response.json()}))\n`;
    const { code, stdout, stderr } = await run('python3', ['-c', program]);
    assert.equal(code, 0, stderr);
    const out = JSON.parse(stdout);
    assert.equal(out.status, 200);
    assert.match(out.etag, /^"[^"]+"$/);
    assert.deepEqual(out.body, { ...user, email: 'newemail@example.com', first_name: 'Jane', last_name: 'Smith', updated_at: out.body.updated_at });
    assert.deepEqual((await api.get(`/v1/users/${user.id}`)).body, out.body);
  });
});
