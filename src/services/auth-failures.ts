import type { Limiter } from '../adapters/limiter.js';

const WINDOW_SECONDS = 60;
/** How long, and for how many credentials, a success is remembered (by hash, never the secret). */
const RECENTLY_VALID_MS = 10 * 60_000;
const RECENTLY_VALID_MAX = 10_000;
const RENEW_AFTER_MS = 60_000;

/** A bounded set of strings that each expire `ttlMs` after they were last added. */
function createRecentSet(ttlMs: number, max: number) {
  const expiries = new Map<string, number>();
  return {
    has(key: string): boolean {
      const expiry = expiries.get(key);
      return expiry !== undefined && expiry > Date.now();
    },
    add(key: string): void {
      const now = Date.now();
      // A key added in the last minute is left as it is: renewing it on every request of a busy
      // client would churn the Map for an expiry that moved by milliseconds.
      const expiry = expiries.get(key);
      if (expiry !== undefined && expiry - now > ttlMs - RENEW_AFTER_MS) return;
      // Re-inserted so that the Map's order stays oldest first, for eviction.
      expiries.delete(key);
      expiries.set(key, now + ttlMs);
      if (expiries.size > max) expiries.delete(expiries.keys().next().value as string);
    },
  };
}

/**
 * Failed authentications, limited per client address (AUTH_FAILURES_PER_MINUTE) against
 * guessing: bearer credentials and the token endpoint's client secrets draw on one budget, so
 * guessing either counts against both. Over the budget, only credentials that worked in the last
 * 10 minutes are still checked: guessing stays blocked, while the valid clients behind a shared
 * address (NAT, proxy) keep working.
 */
export function createAuthFailureGuard({ limiter, failuresPerMinute }: { limiter: Limiter; failuresPerMinute: number }) {
  const recentlyValid = createRecentSet(RECENTLY_VALID_MS, RECENTLY_VALID_MAX);
  const keyOf = (ip: string) => `auth-failures:${ip}`;
  return {
    /**
     * Seconds this address must wait before trying `fingerprint` (hashSecret of the credential,
     * null if there is none), or 0 if it may try now. A credential that worked recently passes
     * either way, so it skips the budget (a Redis call when shared).
     */
    async waitBeforeTrying(ip: string, fingerprint: string | null): Promise<number> {
      if (fingerprint !== null && recentlyValid.has(fingerprint)) return 0;
      const budget = await limiter.peek(keyOf(ip), failuresPerMinute, WINDOW_SECONDS);
      return budget.allowed ? 0 : Math.max(1, budget.resetAt - Math.floor(Date.now() / 1000));
    },
    async failed(ip: string): Promise<void> {
      await limiter.consume(keyOf(ip), failuresPerMinute, WINDOW_SECONDS);
    },
    succeeded(fingerprint: string): void {
      recentlyValid.add(fingerprint);
    },
  };
}

export type AuthFailureGuard = ReturnType<typeof createAuthFailureGuard>;
