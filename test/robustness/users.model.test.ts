import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { describeEachBackend } from '../helpers/backends.js';
import type { Client } from '../helpers/client.js';
import { useServer } from '../helpers/server.js';

/**
 * A model-based test: random sequences of create / patch / delete / get / list run against the
 * server and against a small in-memory model of the contract, which must agree after every step.
 * Emails and usernames come from a small pool (in random letter case), so conflicts are common.
 * ROSTER_PROPERTY_RUNS sets the number of sequences (default 8).
 */
const RUNS = Number(process.env.ROSTER_PROPERTY_RUNS ?? 8);
const SEED = process.env.ROSTER_PROPERTY_SEED ? Number(process.env.ROSTER_PROPERTY_SEED) : undefined;
const SLOTS = 4;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface ModelUser {
  id: string;
  email: string;
  username: string;
  first_name: string | null;
  last_name: string | null;
  role: string;
  metadata: Record<string, Json>;
  created_at: string;
  updated_at: string;
  etag: string;
}

interface Model {
  tag: string;
  users: ModelUser[];
  deleted: string[];
  staleEtags: Map<string, string>;
}

interface Real {
  api: Client;
}

function mergePatch(target: Json | undefined, patch: Json): Json {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const result: Record<string, Json> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    // defineProperty, so that a key named __proto__ stays a key.
    if (v === null) delete result[k];
    else Object.defineProperty(result, k, { value: mergePatch(Object.hasOwn(result, k) ? result[k] : undefined, v), enumerable: true, writable: true, configurable: true });
  }
  return result;
}

const emailOf = (m: Model, slot: number, upper: boolean) => {
  const e = `${m.tag}e${slot}@example.com`;
  return upper ? e.toUpperCase() : e;
};
const usernameOf = (m: Model, slot: number, upper: boolean) => {
  const u = `${m.tag}u${slot}`;
  return upper ? u.toUpperCase() : u;
};

const wire = (u: ModelUser) => {
  const { etag: _etag, ...rest } = u;
  return { ...rest, email_verified: false };
};

function taken(m: Model, field: 'email' | 'username', value: string, except?: string): boolean {
  return m.users.some((u) => u.id !== except && u[field].toLowerCase() === value.toLowerCase());
}

/** Resolves a generated index to a live user, a deleted one or an id never issued. */
function target(m: Model, index: number): { id: string; user?: ModelUser } {
  const choices = m.users.length + m.deleted.length + 1;
  const i = index % choices;
  if (i < m.users.length) return { id: m.users[i].id, user: m.users[i] };
  if (i < m.users.length + m.deleted.length) return { id: m.deleted[i - m.users.length] };
  return { id: 'usr_000000000000' };
}

function assertConflict(body: { error: string; message: string }, emailTaken: boolean, usernameTaken: boolean) {
  assert.equal(body.error, 'conflict');
  const allowed = [...(emailTaken ? ['Email already taken'] : []), ...(usernameTaken ? ['Username already taken'] : [])];
  assert.ok(allowed.includes(body.message), `${body.message} not in ${allowed.join(' | ')}`);
}

const names = fc.constantFrom<string | null>(null, 'Jane', 'José', 'Jose\u0301', 'Ångström', '李', 'O\u2019Brien');
const metadataPatch = fc.dictionary(fc.constantFrom('plan', 'seats', 'prefs', '__proto__', 'constructor'), fc.oneof(fc.constant(null), fc.jsonValue({ maxDepth: 2 })), { maxKeys: 3 }) as fc.Arbitrary<
  Record<string, Json>
>;

class Create implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly emailSlot: number,
    readonly usernameSlot: number,
    readonly upper: boolean,
    readonly firstName: string | null,
    readonly role: string,
    readonly metadata: Record<string, Json>,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const email = emailOf(m, this.emailSlot, this.upper);
    const username = usernameOf(m, this.usernameSlot, this.upper);
    const res = await r.api.post('/v1/users', { body: { email, username, first_name: this.firstName, role: this.role, metadata: this.metadata } });
    if (this.role === 'pope') {
      assert.equal(res.status, 400, res.text);
      return;
    }
    const emailTaken = taken(m, 'email', email);
    const usernameTaken = taken(m, 'username', username);
    if (emailTaken || usernameTaken) {
      assert.equal(res.status, 409, res.text);
      return assertConflict(res.body, emailTaken, usernameTaken);
    }
    assert.equal(res.status, 201, res.text);
    // On create, metadata is stored as given (null values included); only PATCH merges.
    const metadata = this.metadata;
    const user: ModelUser = {
      id: res.body.id,
      email,
      username,
      first_name: this.firstName?.normalize('NFC') ?? null,
      last_name: null,
      role: this.role,
      metadata: JSON.parse(JSON.stringify(metadata)),
      created_at: res.body.created_at,
      updated_at: res.body.created_at,
      etag: res.headers.get('etag')!,
    };
    assert.deepEqual(res.body, wire(user));
    assert.equal(res.headers.get('location'), `/v1/users/${user.id}`);
    m.users.push(user);
  }
  toString = () => `create(e${this.emailSlot}, u${this.usernameSlot}, ${this.upper}, ${JSON.stringify(this.firstName)}, ${this.role}, ${JSON.stringify(this.metadata)})`;
}

class Patch implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly index: number,
    readonly fields: { email?: [number, boolean]; username?: [number, boolean]; first_name?: string | null; last_name?: string | null; role?: string; metadata?: Record<string, Json> | null },
    readonly ifMatch: 'none' | 'current' | 'stale' | 'any',
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const { id, user } = target(m, this.index);
    const body: Record<string, unknown> = {};
    if (this.fields.email) body.email = emailOf(m, ...this.fields.email);
    if (this.fields.username) body.username = usernameOf(m, ...this.fields.username);
    for (const k of ['first_name', 'last_name', 'role', 'metadata'] as const) if (this.fields[k] !== undefined) body[k] = this.fields[k];
    const headers: Record<string, string> = {};
    if (this.ifMatch === 'current') headers['if-match'] = user?.etag ?? '"v1"';
    if (this.ifMatch === 'stale') headers['if-match'] = m.staleEtags.get(id) ?? '"stale"';
    if (this.ifMatch === 'any') headers['if-match'] = '*';
    const res = await r.api.patch(`/v1/users/${id}`, { body, headers });
    if (this.fields.role === 'pope') return assert.equal(res.status, 400, res.text);
    if (!user) {
      assert.equal(res.status, 404, res.text);
      return assert.deepEqual(res.body, { error: 'not_found', message: 'User not found' });
    }
    if (this.ifMatch === 'stale') {
      assert.equal(res.status, 412, res.text);
      return assert.equal(res.body.error, 'precondition_failed');
    }
    const emailTaken = typeof body.email === 'string' && taken(m, 'email', body.email, id);
    const usernameTaken = typeof body.username === 'string' && taken(m, 'username', body.username, id);
    if (emailTaken || usernameTaken) {
      assert.equal(res.status, 409, res.text);
      return assertConflict(res.body, emailTaken, usernameTaken);
    }
    assert.equal(res.status, 200, res.text);
    const next: ModelUser = { ...user, metadata: { ...user.metadata } };
    if (typeof body.email === 'string') next.email = body.email;
    if (typeof body.username === 'string') next.username = body.username;
    if (this.fields.first_name !== undefined) next.first_name = this.fields.first_name?.normalize('NFC') ?? null;
    if (this.fields.last_name !== undefined) next.last_name = this.fields.last_name?.normalize('NFC') ?? null;
    if (this.fields.role !== undefined) next.role = this.fields.role;
    if (this.fields.metadata !== undefined) next.metadata = this.fields.metadata === null ? {} : (JSON.parse(JSON.stringify(mergePatch(user.metadata, this.fields.metadata))) as Record<string, Json>);
    const plain = (u: ModelUser) => JSON.stringify({ ...wire(u), updated_at: '', metadata: null });
    const changed = plain(next) !== plain(user) || !sameJson(next.metadata, user.metadata);
    const etag = res.headers.get('etag')!;
    if (changed) {
      assert.notEqual(etag, user.etag, 'a change makes a new ETag');
      assert.ok(res.body.updated_at >= user.updated_at);
      next.updated_at = res.body.updated_at;
      m.staleEtags.set(id, user.etag);
    } else {
      assert.equal(etag, user.etag, 'no change keeps the ETag');
      assert.equal(res.body.updated_at, user.updated_at, 'no change keeps updated_at');
    }
    next.etag = etag;
    assertSameUser(res.body, wire(next));
    m.users[m.users.indexOf(user)] = next;
  }
  toString = () => `patch(#${this.index}, ${JSON.stringify(this.fields)}, ${this.ifMatch})`;
}

/** Metadata compares as JSON values, key order aside (the merge may place keys otherwise than the model). */
function sameJson(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

function assertSameUser(actual: Record<string, unknown>, expected: Record<string, unknown>) {
  assert.deepStrictEqual(actual, expected);
}

class Delete implements fc.AsyncCommand<Model, Real> {
  constructor(readonly index: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const { id, user } = target(m, this.index);
    const res = await r.api.delete(`/v1/users/${id}`);
    if (!user) return assert.equal(res.status, 404, res.text);
    assert.equal(res.status, 204, res.text);
    m.users = m.users.filter((u) => u.id !== id);
    m.deleted.push(id);
  }
  toString = () => `delete(#${this.index})`;
}

class Get implements fc.AsyncCommand<Model, Real> {
  constructor(readonly index: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const { id, user } = target(m, this.index);
    const res = await r.api.get(`/v1/users/${id}`);
    if (!user) return assert.equal(res.status, 404, res.text);
    assert.equal(res.status, 200, res.text);
    assertSameUser(res.body, wire(user));
    assert.equal(res.headers.get('etag'), user.etag);
  }
  toString = () => `get(#${this.index})`;
}

class List implements fc.AsyncCommand<Model, Real> {
  constructor(readonly limit: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    await assertListMatches(m, r, this.limit);
  }
  toString = () => `list(limit ${this.limit})`;
}

/** Walks every page of this run's users and compares them, in order, with the model. */
async function assertListMatches(m: Model, r: Real, limit: number) {
  const seen: unknown[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const res = await r.api.get(`/v1/users?q=${m.tag}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(res.status, 200, res.text);
    assert.ok(res.body.data.length <= limit);
    seen.push(...res.body.data);
    cursor = res.body.next_cursor;
    assert.equal(res.body.has_more, cursor !== null);
    if (!cursor) break;
  }
  // Oldest first: creation order, which the model keeps.
  assert.deepStrictEqual(seen, m.users.map(wire));
}

const index = fc.nat({ max: 20 });
const slot = fc.nat({ max: SLOTS - 1 });
const role = fc.constantFrom('admin', 'member', 'viewer', 'member', 'pope');

const commands = [
  fc.tuple(slot, slot, fc.boolean(), names, role, metadataPatch).map(([e, u, up, n, r, md]) => new Create(e, u, up, n, r, md)),
  fc
    .tuple(
      index,
      fc.record(
        {
          email: fc.tuple(slot, fc.boolean()),
          username: fc.tuple(slot, fc.boolean()),
          first_name: names,
          last_name: names,
          role,
          metadata: fc.option(metadataPatch, { freq: 4 }),
        },
        { requiredKeys: [] },
      ),
      fc.constantFrom('none', 'none', 'current', 'stale', 'any'),
    )
    .map(([i, f, im]) => new Patch(i, f as Patch['fields'], im as Patch['ifMatch'])),
  index.map((i) => new Delete(i)),
  index.map((i) => new Get(i)),
  fc.integer({ min: 1, max: 4 }).map((l) => new List(l)),
];

await describeEachBackend('users: server and model agree on random command sequences', (backend) => {
  const { api } = useServer(backend);
  let run = 0;

  it('agrees after every step', async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 25 }), async (cmds) => {
        run += 1;
        const model: Model = { tag: `m${run}x${Math.random().toString(36).slice(2, 7)}`, users: [], deleted: [], staleEtags: new Map() };
        await fc.asyncModelRun(() => ({ model, real: { api } }), cmds);
        await assertListMatches(model, { api }, 100);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true, includeErrorInReport: true },
    );
  });
});
