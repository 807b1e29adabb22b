import { openRuntime } from '../src/compose.js';
import { configWith } from '../src/config.js';

/** A rate limit far above what the machine can serve, so the bench measures the limiter, not its 429s. */
export const BENCH_RATE_LIMIT = 10_000_000;

/** Mints an admin API key through the service (as `roster keys create` does), rate limit raised for the run. */
export async function mintKey(databaseUrl: string): Promise<string> {
  const runtime = await openRuntime(configWith({ databaseUrl }));
  try {
    const key = await runtime.services.apiKeys.create({ name: 'bench', scopes: ['admin'], rateLimitPerMinute: BENCH_RATE_LIMIT });
    return key.secret;
  } finally {
    await runtime.close();
  }
}

/** Registers an OAuth client for the token scenario, as `roster clients create` does. */
export async function registerOAuthClient(databaseUrl: string): Promise<{ id: string; secret: string }> {
  const runtime = await openRuntime(configWith({ databaseUrl }));
  try {
    const client = await runtime.services.oauthClients.create({ name: 'bench', scopes: ['read'] });
    return { id: client.client_id, secret: client.client_secret };
  } finally {
    await runtime.close();
  }
}
