import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createStore } from '../../src/store/index.js';
import { createSigningKeyService } from '../../src/services/signing-keys.js';
import { type Backend, describeEachBackend, migratedDatabase } from '../helpers/backends.js';

await describeEachBackend('signing keys shared by instances', (backend: Backend) => {
  let db: Awaited<ReturnType<typeof migratedDatabase>>;

  before(async () => {
    db = await migratedDatabase(backend);
  });
  after(() => db.close());

  it('leaves one current key when instances make their first keys at once, and every key they signed with published', async () => {
    const store = createStore(db.database);
    const instances = Array.from({ length: 3 }, () => createSigningKeyService({ store }));
    const signedWith = await Promise.all(instances.map(async (keys) => (await keys.current()).kid));

    const listed = await instances[0].list();
    assert.equal(listed.filter((k) => k.status === 'current').length, 1, JSON.stringify(listed));
    // As any instance publishes them once it reads the keys again (within 5 s): one started now.
    const published = (await createSigningKeyService({ store }).jwks()).keys.map((k) => k.kid);
    for (const kid of signedWith) assert.ok(published.includes(kid), `${kid} is still published`);
    const first = listed.find((k) => k.status === 'current')!.kid;
    const rotated = await instances[1].rotate();
    assert.notEqual(rotated.kid, first);
    assert.deepEqual((await instances[1].list()).filter((k) => k.status === 'current').map((k) => k.kid), [rotated.kid], 'a rotation still replaces the current key');
  });
});
