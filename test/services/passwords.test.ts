import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verify as argon2Verify } from '@node-rs/argon2';
import { createArgon2Hasher } from '../../src/adapters/password-hasher.js';
import { type Runtime, openRuntime } from '../../src/compose.js';
import { configWith } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import { type PasswordService, createPasswordService, passwordPolicyErrors } from '../../src/services/passwords.js';
import { uniqueUser } from '../helpers/client.js';

const ctx = { actor: { kind: 'system' as const, id: 'test' }, requestId: 'req_test' };

describe('password service', () => {
  let dir: string;
  let runtime: Runtime;
  let passwords: PasswordService;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'roster-passwords-'));
    runtime = await openRuntime(configWith({ databaseUrl: join(dir, 'roster.db') }));
    // A 5-second window and 3 failures, so the test can watch a lockout end (wide enough that the
    // three slow argon2 checks fit inside it on a busy machine).
    passwords = createPasswordService({ store: runtime.store, hasher: createArgon2Hasher(), lockout: { failures: 3, windowSeconds: 5 } });
  });
  after(async () => {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('unlocks a user once the failure window has passed', async () => {
    const user = await runtime.services.users.create(uniqueUser('svc'), ctx);
    await passwords.set(user.id, 'the right password', ctx);
    for (let i = 0; i < 3; i++) assert.deepEqual(await passwords.verify(user.id, `wrong ${i}`), { valid: false });
    const locked = await passwords.verify(user.id, 'the right password').then(
      () => null,
      (err: unknown) => err,
    );
    assert.ok(locked instanceof AppError && locked.code === 'rate_limit_exceeded', String(locked));
    const retryAfter = Number(locked.headers?.['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 5, `Retry-After ${retryAfter}`);
    // Poll (no fixed sleep) until the window ends; generous deadline for a busy machine.
    const deadline = Date.now() + 30_000;
    let result: { valid: boolean } | null = null;
    while (!result && Date.now() < deadline) {
      result = await passwords.verify(user.id, 'the right password').catch((err: unknown) => {
        if (err instanceof AppError && err.code === 'rate_limit_exceeded') return null;
        throw err;
      });
      if (!result) await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(result, { valid: true });
  });

  it('counts failures over any window, not a fixed one: a failure frees one check when it leaves the window', async () => {
    const user = await runtime.services.users.create(uniqueUser('slide'), ctx);
    await passwords.set(user.id, 'the right password', ctx);
    const refused = (p: Promise<unknown>) =>
      p.then(
        () => false,
        (err: unknown) => {
          if (err instanceof AppError && err.code === 'rate_limit_exceeded') return true;
          throw err;
        },
      );
    const first = Date.now();
    assert.deepEqual(await passwords.verify(user.id, 'wrong 0'), { valid: false });
    // The two others well inside the window of the first, and far from its end.
    await new Promise((r) => setTimeout(r, 2_500));
    for (let i = 1; i < 3; i++) assert.deepEqual(await passwords.verify(user.id, `wrong ${i}`), { valid: false });
    assert.equal(await refused(passwords.verify(user.id, 'the right password')), true, 'locked after 3');
    // Once the first failure is 5 s old, one check is free again: only one, since the other two
    // are still inside the last 5 s (a fixed window would have started afresh and allowed three).
    while (await refused(passwords.verify(user.id, 'wrong 3'))) await new Promise((r) => setTimeout(r, 100));
    assert.ok(Date.now() - first >= 5_000, 'not before the first failure left the window');
    assert.equal(await refused(passwords.verify(user.id, 'the right password')), true, 'the two later failures and this one still count');
  });

  it('applies the policy with Unicode case folding and compatibility normalization', () => {
    const owner = { email: 'Jane@Example.com', username: 'jane_doe' };
    assert.deepEqual(passwordPolicyErrors('jane@example.COM', owner), ['Must not be the email address']);
    assert.deepEqual(passwordPolicyErrors('JANE_DOE', owner), ['Must not be the username']);
    // Fullwidth letters are the same password after NFKC, so they are refused too.
    assert.deepEqual(passwordPolicyErrors('ｊａｎｅ＿ｄｏｅ', owner), ['Must not be the username']);
    assert.deepEqual(passwordPolicyErrors('jane_doe!', owner), []);
  });

  it('treats a password typed in another Unicode form as the same password', async () => {
    const hasher = createArgon2Hasher();
    const hash = await hasher.hash('Jos\u00e9 password');
    assert.equal(await hasher.verify(hash, 'Jose\u0301 password'), true);
    assert.equal(await hasher.verify('not a hash', 'x'), false, 'a malformed hash is a failed check, not a crash');
    assert.equal(hasher.needsRehash(hash), false);
    assert.equal(hasher.needsRehash(await createArgon2Hasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 }).hash('x')), true);
  });

  it('makes its dummy hash without hashing: random, of the current parameters, and one argon2 verifies in full', async () => {
    const hasher = createArgon2Hasher();
    const dummy = hasher.dummyHash();
    assert.equal(hasher.dummyHash(), dummy, 'one dummy per hasher');
    assert.notEqual(createArgon2Hasher().dummyHash(), dummy, 'random, not a constant');
    assert.equal(hasher.needsRehash(dummy), false, 'the parameters of a real hash: a check against it costs as much');
    assert.match(createArgon2Hasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 }).dummyHash(), /^\$argon2id\$v=19\$m=8192,t=1,p=1\$/);
    // argon2 itself reads it as a hash (a malformed one would throw) and finds no match.
    assert.equal(await argon2Verify(dummy, ''), false);
    assert.equal(await argon2Verify(dummy, 'any password at all'), false);
  });

  it('checks a user without a password against the dummy hash, as a user with one against theirs', async () => {
    const real = createArgon2Hasher();
    const checkedAgainst: string[] = [];
    const fresh = createPasswordService({
      store: runtime.store,
      hasher: { ...real, verify: (stored: string, p: string) => (checkedAgainst.push(stored), real.verify(stored, p)) },
    });
    const user = await runtime.services.users.create(uniqueUser('nopw'), ctx);
    assert.deepEqual(await fresh.verify(user.id, 'any password at all'), { valid: false });
    assert.deepEqual(checkedAgainst, [real.dummyHash()]);
  });
});
