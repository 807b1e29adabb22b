import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
// 252 is the largest multiple of 36 below 256: bytes at or above it are dropped so that every
// character is equally likely (no modulo bias).
const UNBIASED_LIMIT = 252;

/** `prefix` + `length` characters of [a-z0-9] from the operating system's CSPRNG. */
export function randomId(prefix: string, length = 12): string {
  let out = prefix;
  while (out.length < prefix.length + length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte >= UNBIASED_LIMIT) continue;
      out += ALPHABET[byte % 36];
      if (out.length === prefix.length + length) break;
    }
  }
  return out;
}

/** A URL-safe secret of `bytes` random bytes (32 bytes = 256 bits). */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
