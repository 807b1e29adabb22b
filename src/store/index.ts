import type { Kysely } from 'kysely';
import { createApiKeyStore } from './api-keys.js';
import type { Database } from './database.js';
import { createEmailVerificationTokenStore } from './email-verification-tokens.js';
import { createEventStore } from './events.js';
import { createPasswordStore } from './passwords.js';
import { createOAuthClientStore } from './oauth-clients.js';
import { createSigningKeyStore } from './signing-keys.js';
import { createUserStore } from './users.js';
import type { Tables } from './tables.js';

function bind(db: Kysely<Tables>, database: Database) {
  return {
    users: createUserStore(db, database.dialect),
    apiKeys: createApiKeyStore(db),
    events: createEventStore(db),
    passwords: createPasswordStore(db),
    emailVerificationTokens: createEmailVerificationTokenStore(db),
    oauthClients: createOAuthClientStore(db),
    signingKeys: createSigningKeyStore(db),
  };
}

/** The repositories, each bound to one connection or transaction. */
export type Repositories = ReturnType<typeof bind>;

/**
 * The store services use. Inside `transaction`, the callback gets repositories bound to that
 * transaction, so a write cannot slip outside it by passing the wrong handle.
 */
export function createStore(database: Database) {
  return {
    ...bind(database.db, database),
    dialect: database.dialect,
    transaction<T>(fn: (tx: Repositories) => Promise<T>): Promise<T> {
      return database.db.transaction().execute((trx) => fn(bind(trx, database)));
    },
    ping: () => database.ping(),
  };
}

export type Store = ReturnType<typeof createStore>;
