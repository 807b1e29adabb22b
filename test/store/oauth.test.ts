import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { type Store, createStore } from '../../src/store/index.js';
import { type Backend, describeEachBackend, migratedDatabase } from '../helpers/backends.js';

await describeEachBackend('OAuth clients and signing keys in the store', (backend: Backend) => {
  let db: Awaited<ReturnType<typeof migratedDatabase>>;
  let store: Store;

  before(async () => {
    db = await migratedDatabase(backend);
    store = createStore(db.database);
  });
  after(() => db.close());

  it('keeps a client, revokes it once, and lists only active ones', async () => {
    await store.oauthClients.insert({ id: 'cli_aaaaaaaaaaaa', name: 'a', secretHash: 'ab'.repeat(32), scopes: ['read', 'write'], createdAt: '2026-01-01T00:00:00Z' });
    await store.oauthClients.insert({ id: 'cli_bbbbbbbbbbbb', name: 'b', secretHash: 'cd'.repeat(32), scopes: ['admin'], createdAt: '2026-01-01T00:00:01Z' });
    const found = await store.oauthClients.findById('cli_aaaaaaaaaaaa');
    assert.deepEqual(found, { id: 'cli_aaaaaaaaaaaa', name: 'a', secretHash: 'ab'.repeat(32), scopes: ['read', 'write'], createdAt: '2026-01-01T00:00:00Z', lastUsedAt: null, revokedAt: null });
    await store.oauthClients.touch('cli_aaaaaaaaaaaa', '2026-01-02T00:00:00Z');
    assert.equal((await store.oauthClients.findById('cli_aaaaaaaaaaaa'))?.lastUsedAt, '2026-01-02T00:00:00Z');
    assert.equal(await store.oauthClients.revoke('cli_aaaaaaaaaaaa', '2026-01-03T00:00:00Z'), true);
    assert.equal(await store.oauthClients.revoke('cli_aaaaaaaaaaaa', '2026-01-04T00:00:00Z'), false, 'revoked once');
    assert.equal((await store.oauthClients.findById('cli_aaaaaaaaaaaa'))?.revokedAt, '2026-01-03T00:00:00Z');
    assert.deepEqual((await store.oauthClients.listActive()).map((c) => c.id), ['cli_bbbbbbbbbbbb']);
  });

  it('retires every key but the new one, and prunes only those past their publication', async () => {
    const jwk = (n: number) => ({ kty: 'EC', crv: 'P-256', x: `x${n}`, y: `y${n}` });
    await store.signingKeys.insert({ id: 'k1', algorithm: 'ES256', privateJwk: { ...jwk(1), d: 'd1' }, publicJwk: jwk(1), createdAt: '2026-01-01T00:00:00Z' });
    await store.signingKeys.insert({ id: 'k2', algorithm: 'ES256', privateJwk: { ...jwk(2), d: 'd2' }, publicJwk: jwk(2), createdAt: '2026-01-01T01:00:00Z' });
    assert.equal(await store.signingKeys.retireAllExcept('k2', '2026-01-01T01:00:00Z', '2026-01-01T01:16:00Z'), 1);
    const [newest, oldest] = await store.signingKeys.list();
    assert.equal(newest.id, 'k2');
    assert.equal(newest.retiredAt, null);
    assert.deepEqual(newest.privateJwk, { ...jwk(2), d: 'd2' });
    assert.equal(oldest.publishUntil, '2026-01-01T01:16:00Z');
    assert.deepEqual(await store.signingKeys.prune('2026-01-01T01:15:59Z'), [], 'still published');
    assert.deepEqual(await store.signingKeys.prune('2026-01-01T01:16:00Z'), ['k1']);
    assert.deepEqual((await store.signingKeys.list()).map((k) => k.id), ['k2'], 'the current key is never pruned');
    assert.equal(await store.signingKeys.remove('k2'), true);
    assert.equal(await store.signingKeys.remove('k2'), false);
  });
});
