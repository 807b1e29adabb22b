import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.js';

export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const sqlite = dialect === 'sqlite';
  await db.schema
    .createTable('users')
    .addColumn('seq', sqlite ? 'integer' : 'bigint', (c) =>
      // AUTOINCREMENT (SQLite) and an identity (PostgreSQL) never hand out a number twice.
      sqlite ? c.primaryKey().autoIncrement() : c.primaryKey().generatedAlwaysAsIdentity(),
    )
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text')
    .addColumn('email_key', 'text')
    .addColumn('username', 'text')
    .addColumn('username_key', 'text')
    .addColumn('first_name', 'text')
    .addColumn('last_name', 'text')
    .addColumn('first_name_key', 'text')
    .addColumn('last_name_key', 'text')
    .addColumn('role', 'text')
    .addColumn('email_verified', sqlite ? 'integer' : 'boolean', (c) => c.notNull())
    .addColumn('metadata', sqlite ? 'text' : 'jsonb', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('deleted_at', 'text')
    .execute();
  // Uniqueness lives here, not in a check before the write: of two concurrent claims exactly one
  // commits. A deleted user's keys are NULL, which frees its email and username.
  await db.schema.createIndex('users_email_key').on('users').column('email_key').unique().execute();
  await db.schema.createIndex('users_username_key').on('users').column('username_key').unique().execute();
  await db.schema.createIndex('users_role_seq').on('users').columns(['role', 'seq']).where(sql.ref('deleted_at'), 'is', null).execute();
  await db.schema.createIndex('users_created_at').on('users').column('created_at').execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('rate_limit_per_minute', 'integer')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .addColumn('last_used_at', 'text')
    .addColumn('revoked_at', 'text')
    .execute();
}
