import type { Kysely, Selectable } from 'kysely';
import type { EmailVerificationTokensTable, Tables } from './tables.js';

export type TokenPurpose = EmailVerificationTokensTable['purpose'];

export interface NewVerificationToken {
  id: string;
  tokenHash: string;
  userId: string;
  /** The address the token proves; stored lower-cased. */
  email: string;
  purpose: TokenPurpose;
  createdAt: string;
  expiresAt: string;
}

export interface StoredVerificationToken {
  id: string;
  userId: string;
  emailKey: string;
  purpose: TokenPurpose;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
}

function toToken(row: Selectable<EmailVerificationTokensTable>): StoredVerificationToken {
  return {
    id: row.id,
    userId: row.user_id,
    emailKey: row.email_key,
    purpose: row.purpose,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    usedAt: row.used_at,
  };
}

export function createEmailVerificationTokenStore(db: Kysely<Tables>) {
  return {
    async insert(token: NewVerificationToken): Promise<void> {
      await db
        .insertInto('email_verification_tokens')
        .values({
          id: token.id,
          token_hash: token.tokenHash,
          user_id: token.userId,
          email_key: token.email.toLowerCase(),
          purpose: token.purpose,
          created_at: token.createdAt,
          expires_at: token.expiresAt,
          used_at: null,
        })
        .execute();
    },

    async findByHash(tokenHash: string): Promise<StoredVerificationToken | undefined> {
      const row = await db.selectFrom('email_verification_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
      return row && toToken(row);
    },

    /** Marks the token used, once: false if it already was (a concurrent confirmation won). */
    async markUsed(id: string, usedAt: string): Promise<boolean> {
      const result = await db.updateTable('email_verification_tokens').set({ used_at: usedAt }).where('id', '=', id).where('used_at', 'is', null).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** A user's tokens, newest last (for tests and support). */
    async listForUser(userId: string): Promise<StoredVerificationToken[]> {
      const rows = await db.selectFrom('email_verification_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
      return rows.map(toToken);
    },

    /** Forgets a deleted user's tokens (and with them the addresses they were bound to). */
    async deleteForUser(userId: string): Promise<void> {
      await db.deleteFrom('email_verification_tokens').where('user_id', '=', userId).execute();
    },
  };
}

export type EmailVerificationTokenStore = ReturnType<typeof createEmailVerificationTokenStore>;
