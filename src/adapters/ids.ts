import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
// 252 is the largest multiple of 36 below 256: bytes at or above it are dropped so that every
// character is equally likely (no modulo bias).
const UNBIASED_LIMIT = 252;

// Random bytes are drawn from the operating system 4 KiB at a time rather than per id (as Node's
// own randomUUID does): a syscall per id was a measurable part of every request. Ids are not
// secrets; secrets (randomSecret) still take their bytes straight from the CSPRNG.
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

function nextByte(): number {
  if (offset >= pool.length) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  return pool[offset++];
}

/** `prefix` + `length` characters of [a-z0-9] from the operating system's CSPRNG. */
export function randomId(prefix: string, length = 12): string {
  let out = prefix;
  while (out.length < prefix.length + length) {
    const byte = nextByte();
    if (byte >= UNBIASED_LIMIT) continue;
    out += ALPHABET[byte % 36];
  }
  return out;
}

/** A URL-safe secret of `bytes` random bytes (32 bytes = 256 bits). */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * `prefix` + the time in milliseconds (9 base-36 characters) + random [a-z0-9], `length`
 * characters in all: ids of rows written at a high rate (events) sort by creation, so each
 * insert lands at the end of the unique index on them, on a page the last insert already
 * touched, instead of on a random page of a large index.
 */
export function timeOrderedId(prefix: string, length = 16): string {
  return randomId(prefix + Date.now().toString(36).padStart(9, '0'), length - 9);
}
