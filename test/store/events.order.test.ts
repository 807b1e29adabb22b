import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { type NewEvent, createEventStore } from '../../src/store/events.js';
import { describeWithServices, postgresBackend } from '../helpers/backends.js';

function event(id: string, userId: string): NewEvent {
  return { id, type: 'user.updated', userId, actorKind: 'system', actorId: 'test', requestId: null, data: {}, createdAt: '2026-01-01T00:00:00Z' };
}

await describeWithServices('events of one user on PostgreSQL', ['postgres'], () => {
  it('sort in the order their changes committed, also when the later change holds the older transaction id', async () => {
    const created = await postgresBackend.create();
    const database = openDatabase({ url: created.url, poolSize: 3 });
    try {
      await migrateToLatest(database);
      const store = createEventStore(database.db, 'postgres');
      await store.append(event('evt_order_created', 'usr_order'));
      // A takes its transaction id first, then waits (as for the user's row lock) while B writes
      // and commits; A's event comes second, though its transaction id is the older.
      let releaseA!: () => void;
      const aMayWrite = new Promise<void>((resolve) => (releaseA = resolve));
      let aHasId!: () => void;
      const aTookId = new Promise<void>((resolve) => (aHasId = resolve));
      const a = database.db.transaction().execute(async (trx) => {
        await sql`select pg_current_xact_id()`.execute(trx);
        aHasId();
        await aMayWrite;
        await createEventStore(trx, 'postgres').append(event('evt_order_second', 'usr_order'));
      });
      await aTookId;
      await database.db.transaction().execute(async (trx) => createEventStore(trx, 'postgres').append(event('evt_order_first', 'usr_order')));
      releaseA();
      await a;
      const trail = await store.list({ userId: 'usr_order' }, null, 10);
      assert.deepEqual(trail.map((e) => e.id), ['evt_order_created', 'evt_order_first', 'evt_order_second']);
      const feed = await store.list({}, null, 10);
      assert.deepEqual(feed.map((e) => e.id), ['evt_order_created', 'evt_order_first', 'evt_order_second'], 'the feed too');
    } finally {
      await database.close();
      await created.drop();
    }
  });
});
