import { randomId } from '../../src/adapters/ids.js';
import { nowIso } from '../../src/adapters/clock.js';
import type { StoredUser } from '../../src/store/users.js';
import type { TestServer } from './server.js';

export interface SeedUser {
  email: string;
  username: string;
  first_name?: string | null;
  last_name?: string | null;
  role?: string;
  metadata?: Record<string, unknown>;
  /** Default: now. Lets a test place users in time (filters on created_at). */
  created_at?: string;
}

/**
 * Writes users straight into the server's store in one transaction: a thousand users in well
 * under a second, where a thousand HTTP calls would take several. Only for data a test reads back
 * over HTTP; the behaviour under test still goes through the API.
 */
export async function seedUsers(server: TestServer, users: SeedUser[]): Promise<StoredUser[]> {
  return server.server.runtime.store.transaction(async (tx) => {
    const out: StoredUser[] = [];
    for (const u of users) {
      out.push(
        await tx.users.insert({
          id: randomId('usr_'),
          email: u.email,
          username: u.username,
          first_name: u.first_name ?? null,
          last_name: u.last_name ?? null,
          role: u.role ?? server.config.defaultRole,
          metadata: u.metadata ?? {},
          created_at: u.created_at ?? nowIso(),
        }),
      );
    }
    return out;
  });
}
