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
  onError: (err: unknown, what: string) => void;
}

/** Every domain service, wired to its dependencies; shared by the server, the CLI and tests. */
export function createServices({ config, store, onError }: ServiceDeps) {
  const apiKeys = createApiKeyService({ store, onError });
  const users = createUserService({ store, config });
  const authenticator = createAuthenticator([apiKeys.verifier]);
  return { users, apiKeys, authenticator };
}

export type Services = ReturnType<typeof createServices>;
