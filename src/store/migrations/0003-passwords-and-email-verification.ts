import type { Kysely } from 'kysely';
import type { Dialect } from '../database.js';

export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  // One column per ALTER: SQLite adds only one at a time. Both stay NULL until used.
  await db.schema.alterTable('users').addColumn('password_hash', 'text').execute();
  await db.schema.alterTable('users').addColumn('pending_email', 'text').execute();

  await db.schema
    .createTable('email_verification_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // Only the SHA-256 of the token: a copy of the database confirms nothing.
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('user_id', 'text', (c) => c.notNull())
    // The address the token proves, lower-cased: a token for another address is refused.
    .addColumn('email_key', 'text', (c) => c.notNull())
    // 'verify' confirms the current address; 'change' commits a pending one.
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .execute();
  await db.schema.createIndex('email_verification_tokens_user_id').on('email_verification_tokens').column('user_id').execute();
}
