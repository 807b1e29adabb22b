import type { Kysely } from 'kysely';
import type { Tables } from './tables.js';

/**
 * The password hash column, kept apart from the user mapper so that a hash can never reach a
 * response or an event by way of the user object.
 */
export function createPasswordStore(db: Kysely<Tables>) {
  return {
    /** `undefined` for an unknown or deleted user, `null` for a user without a password. */
    async findHash(userId: string): Promise<string | null | undefined> {
      const row = await db.selectFrom('users').select('password_hash').where('id', '=', userId).where('deleted_at', 'is', null).executeTakeFirst();
      return row === undefined ? undefined : row.password_hash;
    },

    /** Sets the hash of a live user; the caller records the change (version, event). */
    async setHash(userId: string, hash: string): Promise<boolean> {
      const result = await db.updateTable('users').set({ password_hash: hash }).where('id', '=', userId).where('deleted_at', 'is', null).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /**
     * Replaces `oldHash` by a rehash of the same password (stronger parameters). Only if the hash
     * is still `oldHash`, so a password changed meanwhile is never overwritten by the old one.
     * Not a change of the user: neither its version nor `updated_at` moves.
     */
    async upgradeHash(userId: string, oldHash: string, newHash: string): Promise<boolean> {
      const result = await db
        .updateTable('users')
        .set({ password_hash: newHash })
        .where('id', '=', userId)
        .where('password_hash', '=', oldHash)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** The times of the user's failures after `sinceMs`, oldest first; older ones, anyone's, are deleted. */
    async recentFailures(userId: string, sinceMs: number): Promise<number[]> {
      await db.deleteFrom('password_failures').where('failed_at', '<=', sinceMs).execute();
      const rows = await db.selectFrom('password_failures').select('failed_at').where('user_id', '=', userId).orderBy('failed_at').execute();
      return rows.map((r) => Number(r.failed_at));
    },

    /** Records a failure (or a check under way, counted as one until it ends); returns its id. */
    async addFailure(userId: string, atMs: number): Promise<number> {
      const row = await db.insertInto('password_failures').values({ user_id: userId, failed_at: atMs }).returning('id').executeTakeFirstOrThrow();
      return Number(row.id);
    },

    async removeFailure(id: number): Promise<void> {
      await db.deleteFrom('password_failures').where('id', '=', id).execute();
    },

    /** Forgets the user's failures: a correct password, or a new one. */
    async clearFailures(userId: string): Promise<void> {
      await db.deleteFrom('password_failures').where('user_id', '=', userId).execute();
    },
  };
}

export type PasswordStore = ReturnType<typeof createPasswordStore>;
