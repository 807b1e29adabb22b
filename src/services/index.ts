import type { Invalidations } from '../adapters/invalidations.js';
import type { Limiter } from '../adapters/limiter.js';
import type { Config } from '../config.js';
import type { Store } from '../store/index.js';
import { createApiKeyService } from './api-keys.js';
import { createAuthenticator } from './auth.js';
import { createUserService } from './users.js';

export interface ServiceDeps {
  config: Config;
  store: Store;
  limiter: Limiter;
  /** Announces revocations to every instance (Redis pub/sub); absent: this process only. */
  invalidations?: Invalidations;
  onError: (err: unknown, what: string) => void;
}

/** Every domain service, wired to its dependencies; shared by the server, the CLI and tests. */
export function createServices({ config, store, invalidations, onError }: ServiceDeps) {
  const apiKeys = createApiKeyService({ store, invalidations, onError });
  const users = createUserService({ store, config });
  const authenticator = createAuthenticator([apiKeys.verifier]);
  return { users, apiKeys, authenticator };
}

export type Services = ReturnType<typeof createServices>;
