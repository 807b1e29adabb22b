import { nowIso } from '../adapters/clock.js';
import { randomId } from '../adapters/ids.js';
import type { Config } from '../config.js';
import { AppError, EMAIL_TAKEN, USERNAME_TAKEN, userNotFound, validationError } from '../errors.js';
import { type CreateUserBody, METADATA_MAX_BYTES, type UpdateUserBody } from '../schemas/users.js';
import type { Store } from '../store/index.js';
import type { StoredUser, UserChanges, UserFilter } from '../store/users.js';
import type { RequestContext } from './auth.js';
import { canonicalJson } from './canonical-json.js';
import { type EmailChangeHook, EmailChangedSinceCheck } from './email-verification.js';
import { eraseUserEvents, publicUser, recordEvent } from './events.js';
import { eraseUserResponses } from './idempotency.js';
import { toStoredInstant } from './instants.js';
import { mergePatch } from './merge-patch.js';
import type { PasswordService } from './passwords.js';

interface Deps {
  store: Store;
  config: Config;
  /** Hashes the optional `password` of a new user. */
  passwords?: Pick<PasswordService, 'hashNew'>;
  /** EMAIL_CHANGE_VERIFICATION=required: an email-changing PATCH waits for confirmation. */
  emailChanges?: EmailChangeHook;
}

export interface UpdateOptions {
  /** From If-Match (PATCH and DELETE): false answers 412 and changes nothing. */
  precondition?: (current: StoredUser) => boolean;
}

export interface ListQuery extends UserFilter {
  limit?: number;
  cursor?: string;
}

export interface UserPage {
  data: StoredUser[];
  has_more: boolean;
  next_cursor: string | null;
}

const nfc = <T extends string | null | undefined>(s: T): T => (typeof s === 'string' ? (s.normalize('NFC') as T) : s);

// The cursor is opaque to clients; inside it is the last row's sequence number.
function encodeCursor(seq: number): string {
  return Buffer.from(`u1:${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const match = /^u1:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw validationError({ cursor: ['Invalid cursor'] });
  return Number(match[1]);
}

function metadataTooLarge(metadata: unknown): boolean {
  return Buffer.byteLength(JSON.stringify(metadata)) > METADATA_MAX_BYTES;
}

/** How many times a PATCH runs when the user's email changes under it (see EmailChangedSinceCheck). */
const UPDATE_ATTEMPTS = 3;

export function createUserService({ store, config, passwords, emailChanges }: Deps) {
  function assertRole(role: string | undefined): void {
    if (role !== undefined && !config.roles.includes(role)) {
      throw validationError({ role: [`Must be one of: ${config.roles.join(', ')}`] });
    }
  }

  async function usernameTaken(username: string, by: string): Promise<boolean> {
    const [holder] = await store.users.list({ username }, 0, 1);
    return holder !== undefined && holder.id !== by;
  }

  /**
   * The conflict to answer when a write claimed a taken email or username. Taken both, the
   * database names whichever unique index it checks first, which SQLite and PostgreSQL order
   * differently: the username is named then, on both (the seed's first 409 example).
   */
  async function namedConflict(err: unknown, username: string | undefined, self: string | null): Promise<unknown> {
    if (!(err instanceof AppError) || err.code !== 'conflict' || err.message !== EMAIL_TAKEN || username === undefined) return err;
    return (await usernameTaken(username, self ?? '')) ? new AppError('conflict', USERNAME_TAKEN) : err;
  }

  /** The fields of `body` whose values differ from `current`, normalized. */
  function changesFrom(current: StoredUser, body: UpdateUserBody): UserChanges {
    const changes: UserChanges = {};
    if (body.email !== undefined && body.email.normalize('NFC') !== current.email) changes.email = body.email.normalize('NFC');
    if (body.username !== undefined && body.username !== current.username) changes.username = body.username;
    for (const field of ['first_name', 'last_name'] as const) {
      const value = nfc(body[field]);
      if (value !== undefined && value !== current[field]) changes[field] = value;
    }
    if (body.role !== undefined && body.role !== current.role) changes.role = body.role;
    if (body.metadata !== undefined) {
      const merged = body.metadata === null ? {} : (mergePatch(current.metadata, body.metadata) as Record<string, unknown>);
      if (metadataTooLarge(merged)) throw validationError({ metadata: [`Must be at most ${METADATA_MAX_BYTES} bytes when serialized`] });
      // The same data with its keys in another order is no change (jsonb, in databases migrated before 0012, sorted them).
      if (canonicalJson(merged) !== canonicalJson(current.metadata)) changes.metadata = merged;
    }
    // A new address is unverified until proven; a change of letter case is the same mailbox.
    const newMailbox = changes.email !== undefined && changes.email.toLowerCase() !== current.email.toLowerCase();
    if (newMailbox && current.email_verified) changes.email_verified = false;
    return changes;
  }

  /** One attempt at a PATCH: see update. */
  async function updateOnce(id: string, body: UpdateUserBody, ctx: RequestContext, options: UpdateOptions): Promise<StoredUser> {
    assertRole(body.role);
    // A verified email change mails its token first, after checking the rest of the PATCH.
    const pending =
      body.email === undefined || !emailChanges
        ? null
        : await emailChanges.prepareChange(id, body.email.normalize('NFC'), async (before) => {
            if (options.precondition && !options.precondition(before)) throw preconditionFailed();
            const changes = changesFrom(before, body);
            // A taken username would fail the transaction after the mail went out: ask first.
            // (Taken in between, the index still refuses it, and that mail is the one wasted.)
            if (changes.username !== undefined && (await usernameTaken(changes.username, id))) throw new AppError('conflict', USERNAME_TAKEN);
          });
    return store.transaction(async (tx) => {
      const current = await tx.users.findByIdForUpdate(id);
      if (!current) throw userNotFound();
      if (options.precondition && !options.precondition(current)) throw preconditionFailed();
      const changes = changesFrom(current, body);
      await emailChanges?.applyChange(tx, current, body.email?.normalize('NFC'), changes, pending);
      if (Object.keys(changes).length === 0) return current;
      const updated = await tx.users.update(id, current.version, changes, nowIso());
      if (!updated) throw preconditionFailed();
      const previous = Object.fromEntries(Object.keys(changes).map((field) => [field, current[field as keyof UserChanges] ?? null]));
      await recordEvent(tx, 'user.updated', id, ctx, { object: publicUser(updated), previous_attributes: previous });
      return updated;
    }).catch(async (err: unknown) => {
      throw await namedConflict(err, body.username, id);
    });
  }

  return {
    async create(body: CreateUserBody, ctx: RequestContext): Promise<StoredUser> {
      assertRole(body.role);
      const metadata = body.metadata ?? {};
      if (metadataTooLarge(metadata)) throw validationError({ metadata: [`Must be at most ${METADATA_MAX_BYTES} bytes when serialized`] });
      // Hashed before the transaction: nothing slow runs inside one.
      if (body.password !== undefined && !passwords) throw new Error('a password was given but no password service is wired');
      const passwordHash = body.password === undefined || !passwords ? null : await passwords.hashNew(body.password, { email: body.email.normalize('NFC'), username: body.username });
      return store.transaction(async (tx) => {
        const user = await tx.users.insert({
          id: randomId('usr_'),
          email: body.email.normalize('NFC'),
          username: body.username,
          first_name: nfc(body.first_name) ?? null,
          last_name: nfc(body.last_name) ?? null,
          role: body.role ?? config.defaultRole,
          metadata,
          created_at: nowIso(),
        });
        if (passwordHash) await tx.passwords.setHash(user.id, passwordHash);
        await recordEvent(tx, 'user.created', user.id, ctx, { object: publicUser(user) });
        return user;
      }).catch(async (err: unknown) => {
        throw await namedConflict(err, body.username, null);
      });
    },

    async get(id: string): Promise<StoredUser> {
      const user = await store.users.findById(id);
      if (!user) throw userNotFound();
      return user;
    },

    async list(query: ListQuery): Promise<UserPage> {
      const limit = query.limit ?? 20;
      const afterSeq = query.cursor ? decodeCursor(query.cursor) : 0;
      // Emails and names are stored NFC-normalized, so what they are matched with is too.
      const filter: UserFilter = { email: nfc(query.email), username: query.username, role: query.role, q: nfc(query.q) };
      if (query.createdAfter) filter.createdAfter = toStoredInstant('created_after', query.createdAfter);
      if (query.createdBefore) filter.createdBefore = toStoredInstant('created_before', query.createdBefore);
      const rows = await store.users.list(filter, afterSeq, limit + 1);
      const data = rows.slice(0, limit);
      const hasMore = rows.length > limit;
      return { data, has_more: hasMore, next_cursor: hasMore ? encodeCursor(data[data.length - 1].seq) : null };
    },

    /**
     * The seed's PATCH: only the given fields change; a request that changes nothing writes
     * nothing and leaves `updated_at` as it was.
     */
    async update(id: string, body: UpdateUserBody, ctx: RequestContext, options: UpdateOptions = {}): Promise<StoredUser> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await updateOnce(id, body, ctx, options);
        } catch (err) {
          if (!(err instanceof EmailChangedSinceCheck)) throw err;
          if (attempt === UPDATE_ATTEMPTS) throw new AppError('conflict', 'The user changed during the request; try again');
        }
      }
    },

    async delete(id: string, ctx: RequestContext, options: UpdateOptions = {}): Promise<void> {
      await store.transaction(async (tx) => {
        if (options.precondition) {
          const current = await tx.users.findByIdForUpdate(id);
          if (!current) throw userNotFound();
          if (!options.precondition(current)) throw preconditionFailed();
        }
        if (!(await tx.users.markDeleted(id, nowIso()))) throw userNotFound();
        await tx.emailVerificationTokens.deleteForUser(id);
        await recordEvent(tx, 'user.deleted', id, ctx, { object: { id } });
        await eraseUserEvents(tx, id);
        await eraseUserResponses(tx, id);
      });
    },
  };
}

function preconditionFailed(): AppError {
  return new AppError('precondition_failed', 'The user has changed since the ETag given in If-Match');
}

export type UserService = ReturnType<typeof createUserService>;
