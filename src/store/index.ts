import type { Kysely } from 'kysely';
import { createApiKeyStore } from './api-keys.js';
import type { Database } from './database.js';
import { createEmailVerificationTokenStore } from './email-verification-tokens.js';
import { createEventStore } from './events.js';
import { createPasswordStore } from './passwords.js';
import { createOAuthClientStore } from './oauth-clients.js';
import { createSigningKeyStore } from './signing-keys.js';
import { createIdempotencyKeyStore } from './idempotency-keys.js';
import { createUserStore } from './users.js';
import type { Tables } from './tables.js';
import { createWebhookDeliveryStore } from './webhook-deliveries.js';
import { createWebhookEndpointStore } from './webhook-endpoints.js';

function bind(db: Kysely<Tables>, database: Database) {
  return {
    users: createUserStore(db, database.dialect),
    apiKeys: createApiKeyStore(db),
    events: createEventStore(db),
    passwords: createPasswordStore(db),
    emailVerificationTokens: createEmailVerificationTokenStore(db),
    oauthClients: createOAuthClientStore(db),
    signingKeys: createSigningKeyStore(db),
    webhookEndpoints: createWebhookEndpointStore(db),
    webhookDeliveries: createWebhookDeliveryStore(db, database.dialect),
    idempotencyKeys: createIdempotencyKeyStore(db),
  };
}

/** The repositories, each bound to one connection or transaction. */
export type Repositories = ReturnType<typeof bind>;

/**
 * The store services use. Inside `transaction`, the callback gets repositories bound to that
 * transaction, so a write cannot slip outside it by passing the wrong handle.
 */
export function createStore(database: Database) {
  // Told after every commit (never inside the transaction), e.g. to wake the webhook worker.
  const commitListeners = new Set<() => void>();
  return {
    ...bind(database.db, database),
    dialect: database.dialect,
    async transaction<T>(fn: (tx: Repositories) => Promise<T>): Promise<T> {
      const result = await database.db.transaction().execute((trx) => fn(bind(trx, database)));
      for (const listener of commitListeners) listener();
      return result;
    },
    /** Calls `listener` after each committed transaction; returns the function that stops it. */
    onCommit(listener: () => void): () => void {
      commitListeners.add(listener);
      return () => commitListeners.delete(listener);
    },
    ping: () => database.ping(),
  };
}

export type Store = ReturnType<typeof createStore>;
