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
    events: createEventStore(db, database.dialect),
    passwords: createPasswordStore(db),
    emailVerificationTokens: createEmailVerificationTokenStore(db),
    oauthClients: createOAuthClientStore(db),
    signingKeys: createSigningKeyStore(db),
    webhookEndpoints: createWebhookEndpointStore(db, database.dialect),
    webhookDeliveries: createWebhookDeliveryStore(db, database.dialect),
    idempotencyKeys: createIdempotencyKeyStore(db),
  };
}

/** The repositories, each bound to one connection or transaction. */
export type Repositories = ReturnType<typeof bind>;

/** What a committed transaction may announce to the rest of the process. */
export type CommitSignal = 'webhook_deliveries_queued';

export interface TransactionRepositories extends Repositories {
  /** Sends `signal` once this transaction has committed; nothing if it rolls back. */
  afterCommit(signal: CommitSignal): void;
}

/**
 * The store services use. Inside `transaction`, the callback gets repositories bound to that
 * transaction, so a write cannot slip outside it by passing the wrong handle.
 */
export function createStore(database: Database) {
  // Told after the commits that announce their signal (never inside the transaction): a commit
  // that queued no webhook delivery wakes nobody, so plain writes cost no extra query.
  const listeners = new Map<CommitSignal, Set<() => void>>();
  return {
    ...bind(database.db, database),
    dialect: database.dialect,
    async transaction<T>(fn: (tx: TransactionRepositories) => Promise<T>): Promise<T> {
      const signals = new Set<CommitSignal>();
      const result = await database.transaction((trx) => fn({ ...bind(trx, database), afterCommit: (signal) => signals.add(signal) }));
      for (const signal of signals) for (const listener of listeners.get(signal) ?? []) listener();
      return result;
    },
    /** Calls `listener` after each commit that announced `signal`; returns the function that stops it. */
    onCommit(signal: CommitSignal, listener: () => void): () => void {
      const set = listeners.get(signal) ?? new Set();
      listeners.set(signal, set.add(listener));
      return () => set.delete(listener);
    },
    ping: () => database.ping(),
  };
}

export type Store = ReturnType<typeof createStore>;
