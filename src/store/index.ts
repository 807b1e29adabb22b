import type { Kysely } from 'kysely';
import { type ApiKeyStore, createApiKeyStore } from './api-keys.js';
import type { Database, Dialect } from './database.js';
import { type EmailVerificationTokenStore, createEmailVerificationTokenStore } from './email-verification-tokens.js';
import { type EventStore, createEventStore } from './events.js';
import { type PasswordStore, createPasswordStore } from './passwords.js';
import { type OAuthClientStore, createOAuthClientStore } from './oauth-clients.js';
import { type SigningKeyStore, createSigningKeyStore } from './signing-keys.js';
import { type IdempotencyKeyStore, createIdempotencyKeyStore } from './idempotency-keys.js';
import { type UserStore, createUserStore } from './users.js';
import type { Tables } from './tables.js';
import { type WebhookDeliveryStore, createWebhookDeliveryStore } from './webhook-deliveries.js';
import { type WebhookEndpointStore, createWebhookEndpointStore } from './webhook-endpoints.js';

/**
 * The repositories, each bound to one connection or transaction. Each is made on first use: a
 * transaction uses two or three of them, and making all ten for every one was a measurable part
 * of a PATCH.
 */
export class Repositories {
  #users?: UserStore;
  #apiKeys?: ApiKeyStore;
  #events?: EventStore;
  #passwords?: PasswordStore;
  #emailVerificationTokens?: EmailVerificationTokenStore;
  #oauthClients?: OAuthClientStore;
  #signingKeys?: SigningKeyStore;
  #webhookEndpoints?: WebhookEndpointStore;
  #webhookDeliveries?: WebhookDeliveryStore;
  #idempotencyKeys?: IdempotencyKeyStore;

  constructor(
    private readonly db: Kysely<Tables>,
    readonly dialect: Dialect,
  ) {}

  get users(): UserStore {
    return (this.#users ??= createUserStore(this.db, this.dialect));
  }
  get apiKeys(): ApiKeyStore {
    return (this.#apiKeys ??= createApiKeyStore(this.db, this.dialect));
  }
  get events(): EventStore {
    return (this.#events ??= createEventStore(this.db, this.dialect));
  }
  get passwords(): PasswordStore {
    return (this.#passwords ??= createPasswordStore(this.db));
  }
  get emailVerificationTokens(): EmailVerificationTokenStore {
    return (this.#emailVerificationTokens ??= createEmailVerificationTokenStore(this.db));
  }
  get oauthClients(): OAuthClientStore {
    return (this.#oauthClients ??= createOAuthClientStore(this.db, this.dialect));
  }
  get signingKeys(): SigningKeyStore {
    return (this.#signingKeys ??= createSigningKeyStore(this.db));
  }
  get webhookEndpoints(): WebhookEndpointStore {
    return (this.#webhookEndpoints ??= createWebhookEndpointStore(this.db, this.dialect));
  }
  get webhookDeliveries(): WebhookDeliveryStore {
    return (this.#webhookDeliveries ??= createWebhookDeliveryStore(this.db, this.dialect));
  }
  get idempotencyKeys(): IdempotencyKeyStore {
    return (this.#idempotencyKeys ??= createIdempotencyKeyStore(this.db));
  }
}

/** What a committed transaction may announce to the rest of the process. */
export type CommitSignal = 'webhook_deliveries_queued';

/** The repositories of one transaction. */
export class TransactionRepositories extends Repositories {
  constructor(
    db: Kysely<Tables>,
    dialect: Dialect,
    /** Sends `signal` once this transaction has committed; nothing if it rolls back. */
    readonly afterCommit: (signal: CommitSignal) => void,
  ) {
    super(db, dialect);
  }
}

/**
 * The store services use. Inside `transaction`, the callback gets repositories bound to that
 * transaction, so a write cannot slip outside it by passing the wrong handle.
 */
export class Store extends Repositories {
  // Told after the commits that announce their signal (never inside the transaction): a commit
  // that queued no webhook delivery wakes nobody, so plain writes cost no extra query.
  readonly #listeners = new Map<CommitSignal, Set<() => void>>();

  constructor(private readonly database: Database) {
    super(database.db, database.dialect);
  }

  /**
   * Runs `fn` in a transaction. One that PostgreSQL chose as a deadlock's victim (two requests
   * each waiting for a unique key the other's row is leaving, say) or failed for serialization is
   * rolled back whole and runs again, up to 3 times in all: run one after the other, as on a
   * retry, they get the answer they would have had alone (a 409, not a 500).
   */
  async transaction<T>(fn: (tx: TransactionRepositories) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const signals = new Set<CommitSignal>();
      let result: T;
      try {
        result = await this.database.transaction((trx) => fn(new TransactionRepositories(trx, this.dialect, (signal) => signals.add(signal))));
      } catch (err) {
        if (attempt < TRANSACTION_ATTEMPTS && isRetryable(err)) continue;
        throw err;
      }
      for (const signal of signals) for (const listener of this.#listeners.get(signal) ?? []) listener();
      return result;
    }
  }

  /** Calls `listener` after each commit that announced `signal`; returns the function that stops it. */
  onCommit(signal: CommitSignal, listener: () => void): () => void {
    const set = this.#listeners.get(signal) ?? new Set();
    this.#listeners.set(signal, set.add(listener));
    return () => set.delete(listener);
  }

  ping(): Promise<void> {
    return this.database.ping();
  }
}

const TRANSACTION_ATTEMPTS = 3;

/** PostgreSQL's deadlock_detected (40P01) and serialization_failure (40001): nothing was written. */
function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

export function createStore(database: Database): Store {
  return new Store(database);
}
