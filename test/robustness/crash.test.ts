import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { configWith } from '../../src/config.js';
import { openRuntime } from '../../src/compose.js';
import { describeEachBackend } from '../helpers/backends.js';
import { call } from '../helpers/client.js';
import { type ChildServer, mintKeyIn, spawnServer } from '../helpers/child-server.js';
import { assertNoLeaks } from '../helpers/log-scan.js';

/**
 * The built server is killed with SIGKILL in the middle of concurrent writes, then restarted on
 * the same database: every write acknowledged with a 2xx is there, and nothing is half-written.
 * Each PATCH k of a user sets first_name, last_name and metadata.step to k together, so a user
 * is always at one step k, with exactly k update events. ROSTER_CRASH_CYCLES sets the kills.
 */
const CYCLES = Number(process.env.ROSTER_CRASH_CYCLES ?? 1);
const WRITERS = 4;
const ACKS_BEFORE_KILL = 30;

interface Tracked {
  id: string;
  /** Highest PATCH step acknowledged with a 200 (0: only the create). */
  acked: number;
  /** Highest PATCH step sent, acknowledged or not. */
  sent: number;
}

await describeEachBackend('SIGKILL under concurrent writes', (backend) => {
  let db: { url: string; drop(): Promise<void> };
  let key: string;
  let child: ChildServer | undefined;
  const users = new Map<string, Tracked>();
  /** Creates sent but never answered: they may or may not exist. */
  let unansweredCreates = 0;
  const logLines: string[] = [];

  before(async () => {
    db = await backend.create();
    key = await mintKeyIn(db.url, ['write']);
  });
  after(async () => {
    if (child) {
      await child.stop();
      logLines.push(...child.lines);
    }
    await db.drop();
    assertNoLeaks(logLines, [key], 'the crashed servers');
  });

  /** One writer: create a user, then PATCH it step by step, until the server goes away. */
  async function writer(url: string, n: number, cycle: number, stop: { now: boolean }): Promise<void> {
    let seq = 0;
    while (!stop.now) {
      seq += 1;
      const tag = `c${cycle}w${n}s${seq}x${Math.random().toString(36).slice(2, 6)}`;
      let created;
      try {
        created = await call(url, 'POST', '/v1/users', { key, body: { email: `${tag}@example.com`, username: tag, metadata: { step: 0 } } });
      } catch {
        unansweredCreates += 1;
        return;
      }
      assert.equal(created.status, 201, created.text);
      const tracked: Tracked = { id: created.body.id, acked: 0, sent: 0 };
      users.set(tracked.id, tracked);
      for (let step = 1; step <= 3 && !stop.now; step++) {
        tracked.sent = step;
        let res;
        try {
          res = await call(url, 'PATCH', `/v1/users/${tracked.id}`, { key, body: { first_name: `p${step}`, last_name: `p${step}`, metadata: { step } } });
        } catch {
          return;
        }
        assert.equal(res.status, 200, res.text);
        tracked.acked = step;
      }
    }
  }

  async function verify(url: string) {
    const runtime = await openRuntime(configWith({ databaseUrl: db.url }), { migrate: false });
    try {
      for (const t of users.values()) {
        const res = await call(url, 'GET', `/v1/users/${t.id}`, { key });
        assert.equal(res.status, 200, `acknowledged user ${t.id} lost: ${res.text}`);
        const step = res.body.metadata.step as number;
        assert.ok(step >= t.acked && step <= t.sent, `user ${t.id} at step ${step}, acknowledged ${t.acked}, sent ${t.sent}`);
        const name = step === 0 ? null : `p${step}`;
        assert.equal(res.body.first_name, name, 'first_name from the same step');
        assert.equal(res.body.last_name, name, 'last_name from the same step');
        const events = (await runtime.store.events.listForUser(t.id)).map((e) => e.type);
        assert.deepEqual(events, ['user.created', ...Array(step).fill('user.updated')], `events of ${t.id} match its state`);
      }
      // No user without its created event, no created event without its user.
      const rows = await runtime.database.db.selectFrom('users').select('id').where('deleted_at', 'is', null).execute();
      const created = await runtime.database.db.selectFrom('events').select('user_id').where('type', '=', 'user.created').execute();
      assert.deepEqual(rows.map((r) => r.id).sort(), created.map((e) => e.user_id).sort());
      assert.ok(rows.length >= users.size && rows.length <= users.size + unansweredCreates, `${rows.length} users for ${users.size} acknowledged and ${unansweredCreates} unanswered`);
    } finally {
      await runtime.close();
    }
  }

  it('keeps every acknowledged write and half-writes none, across repeated kills', async () => {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      child = await spawnServer(db.url);
      const { url } = child;
      if (cycle > 0) await verify(url);
      const stop = { now: false };
      const acksAtStart = [...users.values()].reduce((n, t) => n + 1 + t.acked, 0);
      const writers = Array.from({ length: WRITERS }, (_, n) => writer(url, n, cycle, stop));
      // Kill once enough writes were acknowledged (polling, not timing).
      const deadline = Date.now() + 120_000;
      while ([...users.values()].reduce((n, t) => n + 1 + t.acked, 0) - acksAtStart < ACKS_BEFORE_KILL) {
        if (Date.now() > deadline) throw new Error('the writers made no progress');
        await new Promise((r) => setTimeout(r, 20));
      }
      child.process.kill('SIGKILL');
      await child.exited;
      stop.now = true;
      await Promise.all(writers);
      logLines.push(...child.lines);
      child = undefined;
    }
    child = await spawnServer(db.url);
    await verify(child.url);
    assert.ok(users.size >= WRITERS, 'writes were made');
  });
});
