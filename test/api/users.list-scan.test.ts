import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { seedUsers } from '../../bench/seed.js';
import { call } from '../helpers/client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

/**
 * A filtered list scans users in seq order until it has a page, so a prefix no one has scans
 * them all. On SQLite that scan runs on a thread of its own: the server answers meanwhile.
 */
describe('GET /v1/users with a filter that scans the table (SQLite)', () => {
  let dir: string;
  let server: TestServer;
  let key: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'roster-scan-'));
    const url = join(dir, 'roster.db');
    await seedUsers(url, 400_000);
    server = await startTestServer({ databaseUrl: url });
    key = await server.mintKey(['read']);
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('goes on answering other requests while it scans', async () => {
    let searched = false;
    const search = call(server.url, 'GET', '/v1/users?q=no-such-prefix', { key }).then((res) => {
      searched = true;
      return res;
    });
    // Health checks one after another until the search answers: a server whose thread were busy
    // scanning would answer none of them meanwhile.
    let answered = 0;
    while (!searched) {
      assert.equal((await call(server.url, 'GET', '/healthz')).status, 200);
      answered++;
    }
    const res = await search;
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { data: [], has_more: false, next_cursor: null });
    assert.ok(answered >= 10, `${answered} health checks answered during the scan`);
  });

  it('finds what it scans for, as on the server thread', async () => {
    const res = await call(server.url, 'GET', '/v1/users?q=bench39999&limit=5', { key });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      res.body.data.map((u: { username: string }) => u.username),
      ['bench39999', 'bench399990', 'bench399991', 'bench399992', 'bench399993'],
    );
  });
});
