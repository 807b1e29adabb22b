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
  };
}

export type PasswordStore = ReturnType<typeof createPasswordStore>;
