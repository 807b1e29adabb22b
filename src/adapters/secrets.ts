import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Hash of a high-entropy secret (API key, token). SHA-256 suffices here: the secrets are random
 * 256-bit values, so there is nothing for a slow password hash to protect against.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Compares two hex digests without leaking where they differ. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}
