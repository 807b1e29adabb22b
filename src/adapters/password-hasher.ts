import { type Algorithm, type Options, hash, hashRaw, parseOptions, verify } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';

/**
 * argon2id at OWASP's Password Storage Cheat Sheet minimum (m=19 MiB, t=2, p=1). Raising a
 * number here upgrades every stored hash on its user's next successful verification.
 */
export const ARGON2_PARAMETERS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

// `Algorithm` is a const enum without a runtime value; 2 is Argon2id.
const ARGON2ID = 2 as Algorithm;
const VERSION_0X13 = 1;

export interface PasswordHasher {
  /** A PHC string (`$argon2id$v=19$m=…`), computed on the thread pool, off the event loop. */
  hash(password: string): Promise<string>;
  /** Constant-time check; false (never a throw) for a malformed hash. */
  verify(hash: string, password: string): Promise<boolean>;
  /** Whether `hash` was made with other than the current parameters. */
  needsRehash(hash: string): boolean;
  /**
   * A hash with the current parameters that no password matches: verifying against it costs what
   * verifying a real password costs, so a user without one does not answer faster.
   */
  dummyHash(): string;
  /**
   * The same argon2id of the password for the same `salt` (hex): what can stand for a password
   * where requests must be compared (Idempotency-Key) without keeping anything a fast hash could
   * test guesses against.
   */
  digest(password: string, salt: Uint8Array): Promise<string>;
}

/** NIST SP 800-63B: normalize (NFKC) so that one password typed on two keyboards is one password. */
function normalize(password: string): string {
  return password.normalize('NFKC');
}

export function createArgon2Hasher(parameters: { memoryCost: number; timeCost: number; parallelism: number } = ARGON2_PARAMETERS): PasswordHasher {
  const options: Options = { ...parameters, algorithm: ARGON2ID };
  // Random salt and random output in argon2's PHC format: a verification runs the full argon2id
  // with these parameters, as against a real hash, and no hash needs computing (a command of the
  // CLI, which checks no password, would otherwise pay for one at start).
  const b64 = (bytes: number) => randomBytes(bytes).toString('base64').replace(/=+$/, '');
  const dummy = `$argon2id$v=19$m=${parameters.memoryCost},t=${parameters.timeCost},p=${parameters.parallelism}$${b64(16)}$${b64(32)}`;
  const hasher: PasswordHasher = {
    hash: (password) => hash(normalize(password), options),
    async verify(stored, password) {
      try {
        return await verify(stored, normalize(password));
      } catch {
        return false;
      }
    },
    needsRehash(stored) {
      try {
        const p = parseOptions(stored);
        return (
          p.algorithm !== ARGON2ID ||
          p.version !== VERSION_0X13 ||
          p.memoryCost !== parameters.memoryCost ||
          p.timeCost !== parameters.timeCost ||
          p.parallelism !== parameters.parallelism
        );
      } catch {
        return true;
      }
    },
    dummyHash: () => dummy,
    async digest(password, salt) {
      return (await hashRaw(normalize(password), { ...options, salt })).toString('hex');
    },
  };
  return hasher;
}
