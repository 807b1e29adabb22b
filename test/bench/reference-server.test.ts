import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { mintKey } from '../../bench/credentials.js';
import { startReference } from '../../bench/processes.js';
import { benchUserId, seedUsers } from '../../bench/seed.js';

const dir = mkdtempSync(join(tmpdir(), 'roster-reference-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function patch(url: string, key: string, id: string, firstName: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/users/${id}`, { method: 'PATCH', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ first_name: firstName }));
  });
}

/** A reference server on a fresh file of `users` bench users, with an admin key, for `fn`. */
async function withReference(name: string, users: number, fn: (url: string, key: string, file: string) => Promise<void>): Promise<void> {
  const file = join(dir, `${name}.db`);
  await seedUsers(file, users);
  const key = await mintKey(file);
  const reference = await startReference(file, dir);
  try {
    await fn(reference.url, key, file);
  } finally {
    await reference.stop();
  }
}

it('the reference server checkpoints its WAL as it writes, as any SQLite server must', async () => {
  // A WAL that is never checkpointed grows by every write; on a shared file, the next server to
  // checkpoint pays for all of it, and the reference's own writes look cheaper than they are.
  await withReference('reference', 100, async (url, key, file) => {
    // One page a write: 3000 writes are three times SQLite's automatic checkpoint (1000 pages).
    for (let i = 0; i < 3000; i++) assert.equal(await patch(url, key, benchUserId(i % 100), `N${i}`), 200);
    const wal = statSync(`${file}-wal`).size;
    assert.ok(wal < 8_000_000, `the WAL reached ${wal} bytes`);
  });
});

it('the reference server pages users as the service does: limit, has_more and a cursor to go on', async () => {
  await withReference('pages', 30, async (url, key) => {
    const page = async (query: string) => {
      const res = await fetch(`${url}/v1/users${query}`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(res.status, 200);
      return (await res.json()) as { data: { id: string }[]; has_more: boolean; next_cursor: string | null };
    };
    const first = await page('?limit=20');
    assert.deepEqual(first.data.map((u) => u.id), Array.from({ length: 20 }, (_, i) => benchUserId(i)));
    assert.equal(first.has_more, true);
    const rest = await page(`?limit=20&cursor=${first.next_cursor}`);
    assert.deepEqual(rest.data.map((u) => u.id), Array.from({ length: 10 }, (_, i) => benchUserId(20 + i)));
    assert.deepEqual([rest.has_more, rest.next_cursor], [false, null]);
    assert.equal((await page('?limit=7')).data.length, 7);
    assert.equal((await page('')).data.length, 20);
  });
});
