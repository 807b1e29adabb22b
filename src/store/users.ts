import { type Insertable, type Kysely, type Updateable, sql } from 'kysely';
import { AppError, EMAIL_TAKEN, USERNAME_TAKEN } from '../errors.js';
import type { User } from '../schemas/users.js';
import type { Dialect } from './database.js';
import type { Tables, UsersTable } from './tables.js';
import { perDialect, statementsByKey, tupleStatement, tuples } from './statements.js';
import { readerFor } from './sqlite-reader.js';
import { uniqueViolation } from './unique-violation.js';

/** A user as stored: the wire shape plus what the service needs and never sends. */
export interface StoredUser extends User {
  version: number;
  seq: number;
}

export type NewUser = Omit<User, 'email_verified' | 'updated_at'>;

export type UserChanges = Partial<Pick<User, 'email' | 'username' | 'first_name' | 'last_name' | 'role' | 'email_verified' | 'metadata'>> & {
  /** A new address awaiting confirmation, or null to drop it. */
  pending_email?: string | null;
};

export interface UserFilter {
  email?: string;
  username?: string;
  role?: string;
  q?: string;
  createdAfter?: string;
  createdBefore?: string;
}

const conflictMessages: Record<string, string> = {
  users_email_key: EMAIL_TAKEN,
  users_username_key: USERNAME_TAKEN,
};

/** What toUser reads: the keys, hashes and tombstone columns stay in the database. */
const USER_COLUMNS = ['seq', 'id', 'email', 'username', 'first_name', 'last_name', 'role', 'email_verified', 'pending_email', 'metadata', 'created_at', 'updated_at', 'version'] as const;
const userColumnList = USER_COLUMNS.map((c) => `"${c}"`).join(', ');

/**
 * The row-to-wire mapper: the one place where SQLite's and PostgreSQL's column types meet. A row
 * is its values in the order of USER_COLUMNS (see tupleStatement).
 */
function toUser(r: unknown[]): StoredUser {
  const [seq, id, email, username, first_name, last_name, role, email_verified, pending_email, metadata, created_at, updated_at, version] = r as [
    number | string,
    string,
    string,
    string,
    string | null,
    string | null,
    string,
    number | boolean,
    string | null,
    string | Record<string, unknown>,
    string,
    string,
    number | string,
  ];
  return {
    id,
    email,
    username,
    first_name,
    last_name,
    role,
    email_verified: email_verified === true || email_verified === 1,
    // Present only while an email change awaits confirmation, so the usual shape is unchanged.
    ...(pending_email ? { pending_email } : {}),
    metadata: typeof metadata === 'string' ? JSON.parse(metadata) : metadata,
    created_at,
    updated_at,
    version: Number(version),
    seq: Number(seq),
  };
}

const lower = (s: string | null | undefined) => (s == null ? null : s.toLowerCase());

/** Wire fields → columns, with the lower-cased keys that the unique indexes and search use. */
function toColumns(fields: UserChanges): Updateable<UsersTable> {
  const cols: Updateable<UsersTable> = {};
  if (fields.email !== undefined) Object.assign(cols, { email: fields.email, email_key: lower(fields.email) });
  if (fields.username !== undefined) Object.assign(cols, { username: fields.username, username_key: lower(fields.username) });
  if (fields.first_name !== undefined) Object.assign(cols, { first_name: fields.first_name, first_name_key: lower(fields.first_name) });
  if (fields.last_name !== undefined) Object.assign(cols, { last_name: fields.last_name, last_name_key: lower(fields.last_name) });
  if (fields.role !== undefined) cols.role = fields.role;
  // Booleans as 0/1: better-sqlite3 cannot bind booleans, and PostgreSQL reads '1' as true.
  if (fields.email_verified !== undefined) cols.email_verified = fields.email_verified ? 1 : 0;
  if (fields.metadata !== undefined) cols.metadata = JSON.stringify(fields.metadata);
  if (fields.pending_email !== undefined) cols.pending_email = fields.pending_email;
  return cols;
}

function rethrowConflict(err: unknown): never {
  const index = uniqueViolation(err);
  if (index && conflictMessages[index]) throw new AppError('conflict', conflictMessages[index]);
  throw err;
}

/** `%`, `_` and `\` are LIKE wildcards: escaped so a search for "a_b" means that text. */
function likePrefix(text: string): string {
  return `${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The statements of the calls every request makes (see statements.ts), made once per dialect. */
function hotStatements(dialect: Dialect) {
  const findLive = `select ${userColumnList} from "users" where "id" = ? and "deleted_at" is null`;
  return {
    findLive: tupleStatement(dialect, findLive, USER_COLUMNS),
    // SQLite has no row locks; its transactions are serialized on the one connection anyway.
    findLiveForUpdate: tupleStatement(dialect, dialect === 'postgres' ? `${findLive} for update` : findLive, USER_COLUMNS),
    /** By the comma-joined columns given, which come from insert (never from input). */
    insert: statementsByKey((columns) => {
      const names = columns.split(',');
      const sql = `insert into "users" (${names.map((c) => `"${c}"`).join(', ')}) values (${names.map(() => '?').join(', ')}) returning ${userColumnList}`;
      return tupleStatement(dialect, sql, USER_COLUMNS);
    }),
    /** A page with no filter, the usual one: a filtered page is built by Kysely (list). */
    page: tupleStatement(dialect, `select ${userColumnList} from "users" where "deleted_at" is null and "seq" > ? order by "seq" asc limit ?`, USER_COLUMNS),
    /**
     * By the comma-joined columns set, which come from toColumns (never from input); none at all
     * (a password change) still moves `updated_at` and the version.
     */
    update: statementsByKey((columns) => {
      const sets = [...(columns === '' ? [] : columns.split(',')), 'updated_at'].map((c) => `"${c}" = ?`).join(', ');
      return tupleStatement(
        dialect,
        `update "users" set ${sets}, "version" = "version" + 1 where "id" = ? and "version" = ? and "deleted_at" is null returning ${userColumnList}`,
        USER_COLUMNS,
      );
    }),
  };
}

const hot = perDialect(hotStatements);

export function createUserStore(db: Kysely<Tables>, dialect: Dialect) {
  const live = () => db.selectFrom('users').select(USER_COLUMNS).where('deleted_at', 'is', null);
  const statements = hot[dialect];

  return {
    async findById(id: string): Promise<StoredUser | undefined> {
      const [row] = await statements.findLive.run(db, [id]);
      return row && toUser(row);
    },

    /** Reads the user and, on PostgreSQL, locks its row until the transaction ends. */
    async findByIdForUpdate(id: string): Promise<StoredUser | undefined> {
      const [row] = await statements.findLiveForUpdate.run(db, [id]);
      return row && toUser(row);
    },

    async insert(user: NewUser): Promise<StoredUser> {
      const columns: Insertable<UsersTable> = {
        id: user.id,
        ...toColumns(user),
        email_verified: 0,
        role: user.role,
        metadata: JSON.stringify(user.metadata),
        version: 1,
        created_at: user.created_at,
        updated_at: user.created_at,
      };
      try {
        const [row] = await statements.insert(Object.keys(columns).join(',')).run(db, Object.values(columns));
        return toUser(row);
      } catch (err) {
        rethrowConflict(err);
      }
    },

    /** Applies `changes` and bumps the version, only if the version is still `expectedVersion`. */
    async update(id: string, expectedVersion: number, changes: UserChanges, updatedAt: string): Promise<StoredUser | undefined> {
      const columns = toColumns(changes);
      try {
        const [row] = await statements.update(Object.keys(columns).join(',')).run(db, [...Object.values(columns), updatedAt, id, expectedVersion]);
        return row && toUser(row);
      } catch (err) {
        rethrowConflict(err);
      }
    },

    /**
     * Deletes the user's data but keeps a tombstone row, so that its id is never handed out
     * again; the NULL keys free its email and username at once.
     */
    async markDeleted(id: string, deletedAt: string): Promise<boolean> {
      const result = await db
        .updateTable('users')
        .set({
          email: null,
          email_key: null,
          username: null,
          username_key: null,
          first_name: null,
          last_name: null,
          first_name_key: null,
          last_name_key: null,
          role: null,
          metadata: '{}',
          password_hash: null,
          pending_email: null,
          deleted_at: deletedAt,
          updated_at: deletedAt,
          version: sql`version + 1`,
        })
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** Up to `limit` users after `afterSeq`, oldest first: keyset pagination on the primary key. */
    async list(filter: UserFilter, afterSeq: number, limit: number): Promise<StoredUser[]> {
      if (Object.values(filter).every((v) => v === undefined)) return (await statements.page.run(db, [afterSeq, limit])).map(toUser);
      let q = live().where('seq', '>', afterSeq);
      if (filter.email !== undefined) q = q.where('email_key', '=', filter.email.toLowerCase());
      if (filter.username !== undefined) q = q.where('username_key', '=', filter.username.toLowerCase());
      if (filter.role !== undefined) q = q.where('role', '=', filter.role);
      if (filter.createdAfter !== undefined) q = q.where('created_at', '>=', filter.createdAfter);
      if (filter.createdBefore !== undefined) q = q.where('created_at', '<', filter.createdBefore);
      if (filter.q !== undefined) {
        const pattern = likePrefix(filter.q);
        const like = (col: 'email_key' | 'username_key' | 'first_name_key' | 'last_name_key') => sql<boolean>`${sql.ref(col)} like ${pattern} escape '\\'`;
        q = q.where((eb) => eb.or([like('email_key'), like('username_key'), like('first_name_key'), like('last_name_key')]));
      }
      const query = q.orderBy('seq', 'asc').limit(limit).compile();
      // Without an exact email or username, the page is found by scanning users in seq order,
      // which a rare prefix or date range makes long: on SQLite, off the server's thread.
      const reader = filter.email === undefined && filter.username === undefined ? readerFor(db) : undefined;
      const rows = reader ? await reader.all(query.sql, query.parameters) : await tuples(db, dialect, query, USER_COLUMNS);
      return rows.map(toUser);
    },
  };
}

export type UserStore = ReturnType<typeof createUserStore>;
