/**
 * Polls `probe` until it returns a value other than undefined, or fails after `deadlineMs`.
 * Tests wait this way instead of sleeping a fixed time: the machine is shared and its speed varies.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, deadlineMs = 10_000, intervalMs = 50): Promise<T> {
  const until = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
