import { hash, timingSafeEqual } from 'node:crypto';

/**
 * Hash of a high-entropy secret (API key, token). SHA-256 suffices here: the secrets are random
 * 256-bit values, so there is nothing for a slow password hash to protect against.
 */
export function hashSecret(secret: string): string {
  // The one-shot form: a third of createHash().update().digest()'s cost, and every
  // authenticated request pays it.
  return hash('sha256', secret, 'hex');
}

/** Compares two hex digests without leaking where they differ. */
export function sameHash(a: string, b: string): boolean {
  return sameDigest(a, Buffer.from(b, 'hex'));
}

/** sameHash against a digest already in bytes (a cached one). */
export function sameDigest(hex: string, digest: Buffer): boolean {
  const given = Buffer.from(hex, 'hex');
  return given.length === digest.length && timingSafeEqual(given, digest);
}
