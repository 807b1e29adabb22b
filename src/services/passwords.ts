import { nowIso } from '../adapters/clock.js';
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

export function createPasswordService({ store, hasher, lockout }: Deps) {
  const failures = lockout?.failures ?? VERIFY_FAILURE_LIMIT;
  const windowSeconds = lockout?.windowSeconds ?? VERIFY_WINDOW_SECONDS;
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
   * Counts the user's failures in the last window and, below the limit, records this check as one
   * (a reservation): parallel guesses, on any instance, are counted before they are checked. The
   * user's row is locked meanwhile, so two reservations see each other. null for an unknown user.
   */
  async function reserve(userId: string): Promise<number | null> {
    const now = Date.now();
    const windowMs = windowSeconds * 1000;
    return store.transaction(async (tx) => {
      if (!(await tx.users.findByIdForUpdate(userId))) return null;
      const recent = await tx.passwords.recentFailures(userId, now - windowMs);
      if (recent.length >= failures) {
        // Until the failure that would leave one check free has left the window.
        const retryAfter = Math.ceil((recent[recent.length - failures] + windowMs - now) / 1000);
        throw new AppError('rate_limit_exceeded', 'Too many failed password verifications for this user; try again later', undefined, {
          'retry-after': String(Math.min(windowSeconds, Math.max(1, retryAfter))),
        });
      }
      return tx.passwords.addFailure(userId, now);
    });
  }

  /**
   * Checks a password. The check is counted as a failure before it runs (see reserve); a success
   * forgets the user's failures, a check that throws takes its reservation back. A user's checks
   * run one at a time in a process, so a check still running never refuses a correct password:
   * only failures count. A user without a password, or an unknown one, is checked against a
   * dummy hash so it answers no faster. A hash made with older parameters is replaced after a
   * successful check.
   */
  async function check(userId: string, password: string): Promise<{ valid: boolean }> {
    const reservation = await reserve(userId);
    let stored: string | null | undefined;
    let matches: boolean;
    try {
      stored = await store.passwords.findHash(userId);
      matches = await hasher.verify(stored ?? hasher.dummyHash(), password);
    } catch (err) {
      if (reservation !== null) await store.passwords.removeFailure(reservation);
      throw err;
    }
    if (stored === undefined) throw userNotFound();
    if (stored === null || !matches) return { valid: false };
    await store.passwords.clearFailures(userId);
    if (hasher.needsRehash(stored)) await store.passwords.upgradeHash(userId, stored, await hasher.hash(password));
    return { valid: true };
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
      await store.passwords.clearFailures(userId);
    },

    /** Checks a password (see check), one check of a user at a time in this process. */
    verify(userId: string, password: string): Promise<{ valid: boolean }> {
      return oneAtATime(userId, () => check(userId, password));
    },
  };
}

export type PasswordService = ReturnType<typeof createPasswordService>;
