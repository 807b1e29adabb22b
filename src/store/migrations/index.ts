import type { Kysely } from 'kysely';
import type { Dialect } from '../database.js';
import * as m0001 from './0001-users-and-api-keys.js';
import * as m0002 from './0002-events.js';
import * as m0003 from './0003-passwords-and-email-verification.js';
import * as m0004 from './0004-oauth.js';
import * as m0006 from './0006-webhooks-and-idempotency.js';
import * as m0007 from './0007-events-rowid.js';
import * as m0008 from './0008-idempotency-user.js';
import * as m0009 from './0009-events-commit-order.js';
import * as m0010 from './0010-webhook-window-attempts.js';
import * as m0011 from './0011-password-failures.js';
import * as m0012 from './0012-json-as-sent.js';
import * as m0013 from './0013-admin-lists-in-insertion-order.js';

interface DialectMigration {
  up(db: Kysely<unknown>, dialect: Dialect): Promise<void>;
}

/**
 * Every migration, in order. Each is written once for both dialects; names sort in the order
 * they run, and a migration never changes once released.
 */
export const migrations: Record<string, DialectMigration> = {
  '0001-users-and-api-keys': m0001,
  '0002-events': m0002,
  '0003-passwords-and-email-verification': m0003,
  '0004-oauth': m0004,
  '0006-webhooks-and-idempotency': m0006,
  '0007-events-rowid': m0007,
  '0008-idempotency-user': m0008,
  '0009-events-commit-order': m0009,
  '0010-webhook-window-attempts': m0010,
  '0011-password-failures': m0011,
  '0012-json-as-sent': m0012,
  '0013-admin-lists-in-insertion-order': m0013,
};
