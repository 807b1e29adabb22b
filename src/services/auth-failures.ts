import ipaddr from 'ipaddr.js';
import type { Limiter } from '../adapters/limiter.js';

const WINDOW_SECONDS = 60;
/** How long, and for how many credentials, a success is remembered (by hash, never the secret). */
const RECENTLY_VALID_MS = 10 * 60_000;
const RECENTLY_VALID_MAX = 10_000;
const RENEW_AFTER_MS = 60_000;
/** The size of the budget a success is marked in (see remember): never spent out in 10 minutes. */
const MARKS = 1_000_000;

/** A bounded set of strings that each expire `ttlMs` after they were last added. */
function createRecentSet(ttlMs: number, max: number) {
  const expiries = new Map<string, number>();
  return {
    has(key: string): boolean {
      const expiry = expiries.get(key);
      return expiry !== undefined && expiry > Date.now();
    },
    /** Adds or renews `key`; false if it was renewed less than a minute ago and was left as it is. */
    add(key: string): boolean {
      const now = Date.now();
      // A key added in the last minute is left as it is: renewing it on every request of a busy
      // client would churn the Map for an expiry that moved by milliseconds.
      const expiry = expiries.get(key);
      if (expiry !== undefined && expiry - now > ttlMs - RENEW_AFTER_MS) return false;
      // Re-inserted so that the Map's order stays oldest first, for eviction.
      expiries.delete(key);
      expiries.set(key, now + ttlMs);
      if (expiries.size > max) expiries.delete(expiries.keys().next().value as string);
      return true;
    },
  };
}

/** One authentication attempt's standing with the budget (see begin). */
export interface AuthAttempt {
  /** Seconds to wait before trying again; 0 if the credential may be checked now. */
  wait: number;
  /** Whether a unit of the budget was taken for it (given back if it succeeds). */
  reserved: boolean;
}

/**
 * The address a budget belongs to: an IPv4 address (an IPv4-mapped IPv6 one as the IPv4 address
 * inside), or an IPv6 address's /64, the block one subscriber gets: one budget per exact IPv6
 * address would give whoever holds a /64 2^64 budgets.
 */
export function addressBlock(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip;
  const parsed = ipaddr.process(ip);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts;
  return `${parts.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/**
 * Failed authentications, limited per client address (AUTH_FAILURES_PER_MINUTE) against
 * guessing: bearer credentials and the token endpoint's client secrets draw on one budget, so
 * guessing either counts against both. Each attempt takes its unit before the credential is
 * checked, and a success gives it back: a burst of guesses in flight at once cannot pass the
 * budget together. Over the budget, only credentials that worked in the last 10 minutes are
 * still checked: guessing stays blocked, while the valid clients behind a shared address (NAT,
 * proxy) keep working.
 */
export function createAuthFailureGuard({ limiter, failuresPerMinute }: { limiter: Limiter; failuresPerMinute: number }) {
  const recentlyValid = createRecentSet(RECENTLY_VALID_MS, RECENTLY_VALID_MAX);
  const keyOf = (ip: string) => `auth-failures:${addressBlock(ip)}`;
  async function giveBack(ip: string, attempt: AuthAttempt): Promise<void> {
    if (attempt.reserved) await limiter.refund(keyOf(ip), failuresPerMinute, WINDOW_SECONDS);
  }
  // Successes are also marked where the budgets are kept (Redis, or the primary of WORKERS), at
  // most once a minute per credential and process: another instance or worker then exempts a
  // credential that worked here. Marked by spending from a budget of its own, read with peek.
  const markOf = (fingerprint: string) => `auth-valid:${fingerprint}`;
  async function remember(fingerprint: string): Promise<void> {
    if (recentlyValid.add(fingerprint)) await limiter.consume(markOf(fingerprint), MARKS, RECENTLY_VALID_MS / 1000);
  }
  async function workedElsewhere(fingerprint: string): Promise<boolean> {
    if ((await limiter.peek(markOf(fingerprint), MARKS, RECENTLY_VALID_MS / 1000)).remaining >= MARKS) return false;
    recentlyValid.add(fingerprint);
    return true;
  }
  return {
    /**
     * Before checking `fingerprint` (hashSecret of the credential, null if there is none) from
     * this address. A credential that worked recently passes either way, so it skips the budget
     * (a Redis call when shared); any other takes a unit, or is told how long to wait.
     */
    async begin(ip: string, fingerprint: string | null): Promise<AuthAttempt> {
      if (fingerprint !== null && recentlyValid.has(fingerprint)) return { wait: 0, reserved: false };
      const budget = await limiter.consume(keyOf(ip), failuresPerMinute, WINDOW_SECONDS);
      if (budget.allowed) return { wait: 0, reserved: true };
      if (fingerprint !== null && (await workedElsewhere(fingerprint))) return { wait: 0, reserved: false };
      return { wait: Math.max(1, budget.resetAt - Math.floor(Date.now() / 1000)), reserved: false };
    },
    /** The credential worked: the attempt's unit is given back, and the credential remembered. */
    async succeeded(ip: string, fingerprint: string, attempt: AuthAttempt): Promise<void> {
      await remember(fingerprint);
      await giveBack(ip, attempt);
    },
    /**
     * A credential known good before its first use: an access token just issued to a client that
     * authenticated. Its client keeps working with it while its address is over the budget, as
     * with the token it replaces.
     */
    trust: (fingerprint: string): Promise<void> => remember(fingerprint),
    /**
     * Runs the attempt's credential check. If it throws, it came to no answer (a database or an
     * issuer out of reach), which is no failure: the unit is given back.
     */
    async check<T>(ip: string, attempt: AuthAttempt, run: () => Promise<T>): Promise<T> {
      try {
        return await run();
      } catch (err) {
        await giveBack(ip, attempt);
        throw err;
      }
    },
  };
}

export type AuthFailureGuard = ReturnType<typeof createAuthFailureGuard>;
