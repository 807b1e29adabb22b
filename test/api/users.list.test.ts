import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { describeEachBackend } from '../helpers/backends.js';
import { type Client, uniqueUser } from '../helpers/client.js';
import { seedUsers } from '../helpers/seed.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

interface Page {
  data: { id: string; username: string; email: string; created_at: string }[];
  has_more: boolean;
  next_cursor: string | null;
}

const b64 = (s: string) => Buffer.from(s).toString('base64url');

await describeEachBackend('GET /v1/users', (backend) => {
  let server: TestServer;
  let api: Client;

  before(async () => {
    server = await startTestServer({ backend });
    api = server.client(await server.mintKey(['read']));
  });
  after(() => server.stop());

  async function list(query: Record<string, string | number>): Promise<Page> {
    const res = await api.get(`/v1/users?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), ['data', 'has_more', 'next_cursor']);
    return res.body;
  }

  /** Every user matching `query`, following next_cursor to the end. */
  async function listAll(query: Record<string, string | number>): Promise<Page['data']> {
    const all: Page['data'] = [];
    let cursor: string | null = null;
    do {
      const page: Page = await list(cursor ? { ...query, cursor } : query);
      all.push(...page.data);
      assert.equal(page.has_more, page.next_cursor !== null);
      cursor = page.next_cursor;
    } while (cursor);
    return all;
  }

  describe('limit', () => {
    const tag = `lim${Math.random().toString(36).slice(2, 8)}`;
    before(() => seedUsers(server, Array.from({ length: 25 }, (_, i) => ({ email: `${tag}${i}@example.com`, username: `${tag}_${i}` }))));

    it('defaults to 20, oldest first, with has_more and next_cursor', async () => {
      const page = await list({ q: tag });
      assert.equal(page.data.length, 20);
      assert.deepEqual(
        page.data.map((u) => u.username),
        Array.from({ length: 20 }, (_, i) => `${tag}_${i}`),
      );
      assert.equal(page.has_more, true);
      assert.equal(typeof page.next_cursor, 'string');
      const rest = await list({ q: tag, cursor: page.next_cursor! });
      assert.deepEqual(
        rest.data.map((u) => u.username),
        Array.from({ length: 5 }, (_, i) => `${tag}_${i + 20}`),
      );
      assert.equal(rest.has_more, false);
      assert.equal(rest.next_cursor, null);
    });

    it('accepts 1 to 100', async () => {
      assert.equal((await list({ q: tag, limit: 1 })).data.length, 1);
      assert.equal((await list({ q: tag, limit: 100 })).data.length, 25);
      const exact = await list({ q: tag, limit: 25 });
      assert.equal(exact.data.length, 25);
      assert.equal(exact.has_more, false, 'a full last page does not claim more');
    });

    for (const limit of ['0', '101', '-1', '1.5', 'abc', '']) {
      it(`rejects limit=${JSON.stringify(limit)}`, async () => {
        const res = await api.get(`/v1/users?limit=${encodeURIComponent(limit)}`);
        assert.equal(res.status, 400, res.text);
        assert.equal(res.body.error, 'validation_error');
        assert.deepEqual(Object.keys(res.body.details), ['limit']);
      });
    }

    it('rejects unknown parameters', async () => {
      const res = await api.get('/v1/users?sort=desc');
      assert.equal(res.status, 400);
      assert.deepEqual(res.body.details, { sort: ['Unknown parameter'] });
    });
  });

  describe('filters', () => {
    const tag = `flt${Math.random().toString(36).slice(2, 8)}`;
    let alpha: string, beta: string, gamma: string;
    before(async () => {
      const seeded = await seedUsers(server, [
        { email: `${tag}a@example.com`, username: `${tag}_alpha`, first_name: `Fn${tag}`, last_name: 'Quinn', role: 'admin', created_at: '2020-06-01T00:00:00Z' },
        { email: `${tag}b@example.org`, username: `${tag}_beta`, first_name: 'Bea', last_name: `Ln${tag}`, role: 'member', created_at: '2021-01-01T00:00:00Z' },
        { email: `${tag}c@example.net`, username: `${tag}-gamma`, first_name: null, last_name: null, role: 'viewer', created_at: '2022-06-01T12:00:00Z' },
      ]);
      [alpha, beta, gamma] = seeded.map((u) => u.id);
    });
    const ids = async (query: Record<string, string | number>) => (await listAll(query)).map((u) => u.id);

    it('email: exact, case-insensitive', async () => {
      assert.deepEqual(await ids({ email: `${tag}A@EXAMPLE.COM` }), [alpha]);
      assert.deepEqual(await ids({ email: `${tag}a@example` }), [], 'not a prefix match');
    });

    it('username: exact, case-insensitive', async () => {
      assert.deepEqual(await ids({ username: `${tag}_BETA`.toUpperCase() }), [beta]);
      assert.deepEqual(await ids({ username: `${tag}_bet` }), []);
    });

    it('role', async () => {
      assert.deepEqual(await ids({ q: tag, role: 'viewer' }), [gamma]);
      assert.deepEqual(await ids({ q: tag, role: 'admin' }), [alpha]);
    });

    it('role: one that is not configured is a 400, not an empty page', async () => {
      for (const role of ['superuser', 'Admin', '']) {
        const res = await api.get(`/v1/users?role=${role}`);
        assert.equal(res.status, 400, role);
        assert.deepEqual(res.body.details, { role: ['Must be one of: admin, member, viewer'] }, role);
      }
    });

    it('q: a case-insensitive prefix of email, username, first or last name', async () => {
      assert.deepEqual(await ids({ q: tag }), [alpha, beta, gamma]);
      assert.deepEqual(await ids({ q: tag.toUpperCase() }), [alpha, beta, gamma]);
      assert.deepEqual(await ids({ q: `fn${tag}` }), [alpha], 'first name');
      assert.deepEqual(await ids({ q: `LN${tag}` }), [beta], 'last name');
      assert.deepEqual(await ids({ q: `${tag}c@` }), [gamma], 'email');
      assert.deepEqual(await ids({ q: tag.slice(1) }), [], 'a prefix, not a substring');
    });

    it('q: a prefix of an email of up to 254 characters, however long', async () => {
      const email = `long${tag}${'x'.repeat(40)}@${'d'.repeat(63)}.${'e'.repeat(63)}.example.com`;
      const [long] = await seedUsers(server, [{ email, username: `long${tag}`, first_name: null, last_name: null, role: 'member', created_at: '2023-01-01T00:00:00Z' }]);
      assert.deepEqual(await ids({ q: email.slice(0, 150) }), [long.id]);
      assert.deepEqual(await ids({ q: email.toUpperCase() }), [long.id]);
      const over = await api.get(`/v1/users?q=${'q'.repeat(255)}`);
      assert.equal(over.status, 400);
      assert.deepEqual(over.body.details, { q: ['Must be at most 254 characters'] });
    });

    it('q and email: matched in NFC, as names and emails are stored, whatever form they are sent in', async () => {
      // Stored as the service stores it: NFC.
      const [emile] = await seedUsers(server, [{ email: `nfc${tag}@example.com`, username: `nfc${tag}`, first_name: null, last_name: `\u00c9m${tag}`, role: 'member', created_at: '2023-01-01T00:00:00Z' }]);
      assert.deepEqual(await ids({ q: `E\u0301m${tag}` }), [emile.id], 'decomposed');
      assert.deepEqual(await ids({ q: `\u00c9m${tag}` }), [emile.id], 'composed');
    });

    it('refuses an empty email or username filter, as it refuses an empty q', async () => {
      for (const query of ['email=', 'username=', 'q=']) {
        const res = await api.get(`/v1/users?${query}`);
        assert.equal(res.status, 400, query);
        assert.equal(res.body.error, 'validation_error');
      }
    });

    it('q: LIKE wildcards are plain characters', async () => {
      assert.deepEqual(await ids({ q: `${tag}_` }), [alpha, beta]);
      assert.deepEqual(await ids({ q: `${tag}%` }), []);
      assert.deepEqual(await ids({ q: `${tag.slice(0, 3)}_${tag.slice(4)}` }), []);
      assert.deepEqual(await ids({ q: `${tag}\\` }), []);
    });

    it('created_after (inclusive) and created_before (exclusive)', async () => {
      assert.deepEqual(await ids({ q: tag, created_after: '2021-01-01T00:00:00Z' }), [beta, gamma]);
      assert.deepEqual(await ids({ q: tag, created_before: '2021-01-01T00:00:00Z' }), [alpha]);
      assert.deepEqual(await ids({ q: tag, created_after: '2021-01-01T00:00:00Z', created_before: '2022-06-01T12:00:00Z' }), [beta]);
    });

    it('created_after/before: offsets and fractions mean the instant they name', async () => {
      assert.deepEqual(await ids({ q: tag, created_after: '2021-01-01T01:00:00+01:00' }), [beta, gamma]);
      assert.deepEqual(await ids({ q: tag, created_after: '2020-12-31T23:59:59.001Z' }), [beta, gamma]);
      assert.deepEqual(await ids({ q: tag, created_before: '2021-01-01T00:00:00.5Z' }), [alpha, beta]);
      assert.deepEqual(await ids({ q: tag, created_before: '2022-06-01T07:00:00-05:00' }), [alpha, beta]);
      assert.deepEqual(await ids({ q: tag, created_before: '2022-06-01T07:00:01-05:00' }), [alpha, beta, gamma]);
    });

    it('created_after/before: a leap second (second 60) falls between second 59 and the next minute', async () => {
      assert.deepEqual(await ids({ q: tag, created_after: '2020-12-31T23:59:60Z' }), [beta, gamma]);
      assert.deepEqual(await ids({ q: tag, created_before: '2020-12-31T23:59:60Z' }), [alpha]);
      assert.deepEqual(await ids({ q: tag, created_before: '2020-12-31T23:59:60.5Z' }), [alpha]);
      assert.deepEqual(await ids({ q: tag, created_after: '2020-12-31T18:59:60-05:00' }), [beta, gamma]);
    });

    it('created_after/before: instants that fall past year 9999 in UTC', async () => {
      // Valid RFC 3339 times whose UTC instant, rounded to the second, is in year 10000.
      assert.deepEqual(await ids({ q: tag, created_after: '9999-12-31T23:59:59.5Z' }), []);
      assert.deepEqual(await ids({ q: tag, created_after: '9999-12-31T23:00:00-05:00' }), []);
      assert.deepEqual(await ids({ q: tag, created_before: '9999-12-31T23:00:00-05:00' }), [alpha, beta, gamma]);
      assert.deepEqual(await ids({ q: tag, created_before: '9999-12-31T23:59:59Z' }), [alpha, beta, gamma]);
    });

    it('rejects dates that are not RFC 3339', async () => {
      for (const value of ['yesterday', '2021-01-01', '2021-13-01T00:00:00Z', '1609459200']) {
        const res = await api.get(`/v1/users?created_after=${encodeURIComponent(value)}`);
        assert.equal(res.status, 400, value);
        assert.deepEqual(Object.keys(res.body.details), ['created_after']);
      }
    });

    it('combines with pagination', async () => {
      const first = await list({ q: tag, limit: 1 });
      assert.deepEqual([first.data.map((u) => u.id), first.has_more], [[alpha], true]);
      const second = await list({ q: tag, limit: 1, cursor: first.next_cursor! });
      assert.deepEqual([second.data.map((u) => u.id), second.has_more], [[beta], true]);
      const third = await list({ q: tag, limit: 1, cursor: second.next_cursor! });
      assert.deepEqual([third.data.map((u) => u.id), third.has_more, third.next_cursor], [[gamma], false, null]);
    });
  });

  describe('cursor', () => {
    const tag = `cur${Math.random().toString(36).slice(2, 8)}`;
    before(() => seedUsers(server, Array.from({ length: 3 }, (_, i) => ({ email: `${tag}${i}@example.com`, username: `${tag}_${i}` }))));

    it('is opaque and stable', async () => {
      const page = await list({ q: tag, limit: 1 });
      const cursor = page.next_cursor!;
      assert.match(cursor, /^[A-Za-z0-9_-]+$/, 'URL-safe');
      assert.ok(!cursor.includes(page.data[0].id) && !cursor.includes(tag), 'says nothing readable about the rows');
      assert.ok(!/^\d+$/.test(cursor), 'not a bare row number');
      assert.deepEqual(await list({ q: tag, limit: 1, cursor }), await list({ q: tag, limit: 1, cursor }));
    });

    for (const [label, cursor] of [
      ['garbage', 'zzz'],
      ['a number', '12'],
      ['tampered payload', b64('u1:abc')],
      ['another version', b64('u2:5')],
      ['a negative position', b64('u1:-4')],
      ['too long', 'a'.repeat(201)],
    ]) {
      it(`rejects a cursor that is ${label} with 400`, async () => {
        const res = await api.get(`/v1/users?cursor=${encodeURIComponent(cursor)}`);
        assert.equal(res.status, 400, res.text);
        assert.equal(res.body.error, 'validation_error');
        assert.deepEqual(Object.keys(res.body.details), ['cursor']);
      });
    }
  });
});

await describeEachBackend('GET /v1/users: walking 1,000+ users while others are written', (backend) => {
  let server: TestServer;
  let reader: Client;
  let writer: Client;

  before(async () => {
    server = await startTestServer({ backend });
    reader = server.client(await server.mintKey(['read']));
    writer = server.client(await server.mintKey(['write']));
  });
  after(() => server.stop());

  it('sees each pre-existing user exactly once and no user twice', async () => {
    const tag = `walk${Math.random().toString(36).slice(2, 6)}`;
    const seeded = await seedUsers(
      server,
      Array.from({ length: 1050 }, (_, i) => ({ email: `${tag}${i}@example.com`, username: `${tag}_${i}`, first_name: 'Seed' })),
    );
    const preexisting = new Set(seeded.map((u) => u.id));
    const seen = new Map<string, number>();
    const insertedBetweenPages: string[] = [];
    let writes = 0;
    const insert = async () => {
      const res = await writer.post('/v1/users', { body: uniqueUser('walknew') });
      assert.equal(res.status, 201, res.text);
      writes += 1;
      return res.body.id as string;
    };
    // Edits move no row: a user renamed before or after the cursor passes it is still seen once.
    const edit = async (n: number) => {
      const id = seeded[(n * 97) % seeded.length].id;
      const res = await writer.patch(`/v1/users/${id}`, { body: { first_name: `Edited${n}`, username: `${tag}e${n}` } });
      assert.equal(res.status, 200, res.text);
      writes += 1;
    };

    let cursor: string | null = null;
    let pages = 0;
    do {
      const fetchPage = reader.get(`/v1/users?limit=37${cursor ? `&cursor=${cursor}` : ''}`);
      // Writes race with the page being read …
      const [res] = await Promise.all([fetchPage, insert(), insert(), edit(pages)]);
      assert.equal(res.status, 200, res.text);
      for (const u of res.body.data as { id: string }[]) seen.set(u.id, (seen.get(u.id) ?? 0) + 1);
      cursor = res.body.next_cursor;
      pages += 1;
      // … and land between pages.
      if (cursor) insertedBetweenPages.push(await insert());
    } while (cursor);

    assert.ok(pages > 28, `walked ${pages} pages`);
    assert.ok(writes > 100, `${writes} writes during the walk`);
    const twice = [...seen].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], 'no user twice');
    const missed = [...preexisting].filter((id) => seen.get(id) !== 1);
    assert.deepEqual(missed, [], 'every pre-existing user once');
    const missedNew = insertedBetweenPages.filter((id) => !seen.has(id));
    assert.deepEqual(missedNew, [], 'users committed before the walk reached the end are seen too');
  });
});
