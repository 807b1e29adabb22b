import type { Limiter } from '../adapters/limiter.js';
import type { Config } from '../config.js';
import type { Store } from '../store/index.js';
import { createApiKeyService } from './api-keys.js';
import { createAuthenticator } from './auth.js';
import { createEventService } from './events.js';
import { createIdempotencyService } from './idempotency.js';
import { createUserService } from './users.js';
import { createWebhookService } from './webhooks.js';

export interface ServiceDeps {
  config: Config;
  store: Store;
  limiter: Limiter;
  onError: (err: unknown, what: string) => void;
}

/** Every domain service, wired to its dependencies; shared by the server, the CLI and tests. */
export function createServices({ config, store, onError }: ServiceDeps) {
  const apiKeys = createApiKeyService({ store, onError });
  const users = createUserService({ store, config });
  const authenticator = createAuthenticator([apiKeys.verifier]);
  const events = createEventService({ store });
  const webhooks = createWebhookService({ store, config });
  const idempotency = createIdempotencyService({ store });
  return { users, apiKeys, authenticator, events, webhooks, idempotency };
}

export type Services = ReturnType<typeof createServices>;
