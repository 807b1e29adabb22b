import assert from 'node:assert/strict';
import { it } from 'node:test';
import pg from 'pg';
import { describeEachBackend } from '../helpers/backends.js';
import { type ApiResponse, uniqueUser } from '../helpers/client.js';
import { useServer } from '../helpers/server.js';

const CLAIMS = 30;

/** Exactly one winner with `okStatus`; every other claim gets the seed's 409 with `message`. */
function assertOneWinner(results: ApiResponse[], okStatus: number, message: string): ApiResponse {
  const winners = results.filter((r) => r.status === okStatus);
  const losers = results.filter((r) => r.status !== okStatus);
  assert.equal(winners.length, 1, `statuses: ${results.map((r) => r.status).join(',')}`);
  assert.equal(losers.length, CLAIMS - 1);
  for (const r of losers) assert.deepEqual([r.status, r.body], [409, { error: 'conflict', message }]);
  return winners[0];
}

await describeEachBackend('uniqueness under concurrent claims', (backend) => {
  const { api, server } = useServer(backend);

  const count = async (filter: string) => (await api.get(`/v1/users?${filter}&limit=100`)).body.data.length;

  it(`of ${CLAIMS} concurrent creates with one username (in varied letter case), exactly one succeeds`, async () => {
    const { username } = uniqueUser('race');
    const results = await Promise.all(
      Array.from({ length: CLAIMS }, (_, i) => api.post('/v1/users', { body: { email: uniqueUser().email, username: i % 2 ? username.toUpperCase() : username } })),
    );
    const winner = assertOneWinner(results, 201, 'Username already taken');
    assert.equal((await api.get(`/v1/users/${winner.body.id}`)).status, 200);
    assert.equal(await count(`username=${username}`), 1);
  });

  it(`of ${CLAIMS} concurrent creates with one email, exactly one succeeds`, async () => {
    const { email } = uniqueUser('race');
    const results = await Promise.all(
      Array.from({ length: CLAIMS }, (_, i) => api.post('/v1/users', { body: { email: i % 3 ? email : email.toUpperCase(), username: uniqueUser().username } })),
    );
    assertOneWinner(results, 201, 'Email already taken');
    assert.equal(await count(`email=${encodeURIComponent(email)}`), 1);
  });

  async function createMany(n: number): Promise<{ id: string; username: string; email: string }[]> {
    return Promise.all(
      Array.from({ length: n }, async () => {
        const res = await api.post('/v1/users', { body: uniqueUser('racer') });
        assert.equal(res.status, 201);
        return res.body;
      }),
    );
  }

  it(`of ${CLAIMS} users renamed at once to one username, exactly one gets it`, async () => {
    const users = await createMany(CLAIMS);
    const { username } = uniqueUser('race');
    const results = await Promise.all(users.map((u) => api.patch(`/v1/users/${u.id}`, { body: { username } })));
    const winner = assertOneWinner(results, 200, 'Username already taken');
    assert.equal(await count(`username=${username}`), 1);
    // The losers kept their own names.
    for (const u of users.filter((u) => u.id !== winner.body.id)) assert.equal((await api.get(`/v1/users/${u.id}`)).body.username, u.username);
  });

  it(`of ${CLAIMS} users given one email at once, exactly one gets it`, async () => {
    const users = await createMany(CLAIMS);
    const { email } = uniqueUser('race');
    const results = await Promise.all(users.map((u) => api.patch(`/v1/users/${u.id}`, { body: { email } })));
    assertOneWinner(results, 200, 'Email already taken');
    assert.equal(await count(`email=${encodeURIComponent(email)}`), 1);
  });

  it('a create and a rename racing for one username: exactly one wins', async () => {
    const users = await createMany(CLAIMS / 2);
    const { username } = uniqueUser('race');
    const results = await Promise.all([
      ...users.map((u) => api.patch(`/v1/users/${u.id}`, { body: { username } })),
      ...Array.from({ length: CLAIMS / 2 }, () => api.post('/v1/users', { body: { email: uniqueUser().email, username } })),
    ]);
    const winners = results.filter((r) => r.status === 200 || r.status === 201);
    assert.equal(winners.length, 1, results.map((r) => r.status).join(','));
    for (const r of results.filter((r) => r.status !== 200 && r.status !== 201)) assert.deepEqual(r.body, { error: 'conflict', message: 'Username already taken' });
    assert.equal(await count(`username=${username}`), 1);
  });

  it("a rename that deadlocks with another writer's is run again: 409, not 500", { skip: backend.name !== 'postgres' && 'PostgreSQL only: SQLite runs one write at a time' }, async () => {
    const [mover, holder] = await createMany(2);
    // Another writer (an instance, a session) moves `holder` off its username and, before it
    // commits, onto the mover's: the mover's rename waits for the first, the second for the mover.
    const other = new pg.Client({ connectionString: server.databaseUrl });
    await other.connect();
    try {
      await other.query('begin');
      await other.query("update users set username = 'held_' || username, username_key = 'held_' || username_key where id = $1", [holder.id]);
      const rename = api.patch(`/v1/users/${mover.id}`, { body: { username: holder.username } });
      const waiting = async () => (await other.query("select count(*)::int as n from pg_locks where not granted and locktype = 'transactionid'")).rows[0].n > 0;
      for (let i = 0; i < 200 && !(await waiting()); i++) await new Promise((r) => setTimeout(r, 20));
      // The cycle: PostgreSQL ends one side (the rename, waiting longest) as a deadlock's victim.
      const second = other.query('update users set username = $1, username_key = lower($1) where id = $2', [mover.username, holder.id]).then(
        () => null,
        (err: Error) => err,
      );
      await second;
      await other.query('rollback');
      const res = await rename;
      assert.deepEqual([res.status, res.body], [409, { error: 'conflict', message: 'Username already taken' }], res.text);
    } finally {
      await other.end();
    }
    assert.equal((await api.get(`/v1/users/${mover.id}`)).body.username, mover.username, 'nothing changed');
    assert.ok(!server.logs.some((l) => Number(l.level) >= 50 && JSON.stringify(l).includes('deadlock')), 'no deadlock logged as a bug');
  });

  it('concurrent edits of one user all apply, each on the version before it', async () => {
    const [user] = await createMany(1);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => api.patch(`/v1/users/${user.id}`, { body: { metadata: { [`k${i}`]: i } } })));
    for (const r of results) assert.equal(r.status, 200, r.text);
    const final = await api.get(`/v1/users/${user.id}`);
    assert.deepEqual(final.body.metadata, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])), 'no merge lost');
  });
});
