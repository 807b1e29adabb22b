import { nowIso } from '../adapters/clock.js';
import type { Limiter } from '../adapters/limiter.js';
import type { PasswordHasher } from '../adapters/password-hasher.js';
import { AppError, userNotFound, validationError } from '../errors.js';
import type { Store } from '../store/index.js';
import type { RequestContext } from './auth.js';
import { publicUser, recordEvent } from './events.js';

/** API.md §3: 10 failed verifications in 15 minutes lock verification for that user. */
export const VERIFY_FAILURE_LIMIT = 10;
export const VERIFY_WINDOW_SECONDS = 15 * 60;

interface Deps {
  store: Store;
  hasher: PasswordHasher;
  limiter: Limiter;
  /** Overridable so a test can watch a lockout window end. */
  lockout?: { failures: number; windowSeconds: number };
}

/** Whose password it is: the policy refuses the user's own identifiers. */
export interface PasswordOwner {
  email: string;
  username: string;
}

/**
 * The policy beyond length (which the schema checks, in code points, 8 to 256): NIST SP 800-63B,
 * no composition rules, but not the user's own email or username in any letter case.
 */
export function passwordPolicyErrors(password: string, owner: PasswordOwner): string[] {
  const folded = password.normalize('NFKC').toLowerCase();
  const errors: string[] = [];
  if (folded === owner.email.normalize('NFKC').toLowerCase()) errors.push('Must not be the email address');
  if (folded === owner.username.toLowerCase()) errors.push('Must not be the username');
  return errors;
}

export function assertPasswordPolicy(password: string, owner: PasswordOwner): void {
  const errors = passwordPolicyErrors(password, owner);
  if (errors.length > 0) throw validationError({ password: errors });
}

export function createPasswordService({ store, hasher, limiter, lockout }: Deps) {
  const failures = lockout?.failures ?? VERIFY_FAILURE_LIMIT;
  const windowSeconds = lockout?.windowSeconds ?? VERIFY_WINDOW_SECONDS;
  const lockKey = (userId: string) => `password-verify:${userId}`;
  /** The last check of each user under way in this process; see verify. */
  const checking = new Map<string, Promise<unknown>>();

  /** Runs `run` once the user's check before it (in this process) has ended. */
  function oneAtATime<T>(userId: string, run: () => Promise<T>): Promise<T> {
    const result = (checking.get(userId) ?? Promise.resolve()).then(run);
    const settled = result.catch(() => {});
    checking.set(userId, settled);
    void settled.then(() => {
      if (checking.get(userId) === settled) checking.delete(userId);
    });
    return result;
  }

  /** Checks the policy against `owner` and hashes (off the event loop, outside any transaction). */
  async function hashNew(password: string, owner: PasswordOwner): Promise<string> {
    assertPasswordPolicy(password, owner);
    return hasher.hash(password);
  }

  /**
   * Checks a password. Every attempt first takes one unit of the user's budget (so parallel
   * guesses cannot slip past the limit); a success gives the budget back. A user's checks run
   * one at a time in a process, so a unit taken by a check still running never refuses a
   * correct password: only failures count. A user without a password, or an unknown one, is
   * checked against a dummy hash so it answers no faster. A hash made with older parameters is
   * replaced after a successful check.
   */
  async function check(userId: string, password: string): Promise<{ valid: boolean }> {
    const budget = await limiter.consume(lockKey(userId), failures, windowSeconds);
    if (!budget.allowed) {
      // resetAt is rounded up to a whole second, so the difference may exceed the window by one.
      const retryAfter = Math.min(windowSeconds, Math.max(1, budget.resetAt - Math.floor(Date.now() / 1000)));
      throw new AppError('rate_limit_exceeded', 'Too many failed password verifications for this user; try again later', undefined, {
        'retry-after': String(retryAfter),
      });
    }
    const stored = await store.passwords.findHash(userId);
    const matches = await hasher.verify(stored ?? (await hasher.dummyHash()), password);
    if (stored === undefined) throw userNotFound();
    const valid = stored !== null && matches;
    if (!valid) return { valid };
    await limiter.reset(lockKey(userId), failures, windowSeconds);
    if (hasher.needsRehash(stored)) await store.passwords.upgradeHash(userId, stored, await hasher.hash(password));
    return { valid };
  }

  return {
    hashNew,

    /**
     * Sets a user's password: hashed before the transaction; inside it the policy is checked
     * again (the username may have changed meanwhile), the version and `updated_at` move and
     * `user.password_changed` is recorded, without the password or its hash.
     */
    async set(userId: string, password: string, ctx: RequestContext): Promise<void> {
      const before = await store.users.findById(userId);
      if (!before) throw userNotFound();
      const hash = await hashNew(password, before);
      await store.transaction(async (tx) => {
        const current = await tx.users.findByIdForUpdate(userId);
        if (!current) throw userNotFound();
        assertPasswordPolicy(password, current);
        // An update with no field changes still bumps the version and updated_at.
        const updated = await tx.users.update(userId, current.version, {}, nowIso());
        if (!updated || !(await tx.passwords.setHash(userId, hash))) throw userNotFound();
        await recordEvent(tx, 'user.password_changed', userId, ctx, { object: publicUser(updated) });
      });
      // A new password starts with a clean slate of failures.
      await limiter.reset(lockKey(userId), failures, windowSeconds);
    },

    /** Checks a password (see check), one check of a user at a time in this process. */
    verify(userId: string, password: string): Promise<{ valid: boolean }> {
      return oneAtATime(userId, () => check(userId, password));
    },
  };
}

export type PasswordService = ReturnType<typeof createPasswordService>;
