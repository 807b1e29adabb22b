import { openRuntime } from '../src/compose.js';
import { configWith } from '../src/config.js';

/** A rate limit far above what the machine can serve, so the bench measures the limiter, not its 429s. */
export const BENCH_RATE_LIMIT = 100_000_000;

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

type Registrar = { create(input: Record<string, unknown>): Promise<Record<string, unknown>> };

/**
 * Registers an OAuth client for the token scenario, through whichever service of the tree manages
 * clients (OAuth is being added alongside the bench); null with the reason when there is none.
 */
export async function registerOAuthClient(databaseUrl: string): Promise<{ id: string; secret: string } | { skipped: string }> {
  const runtime = await openRuntime(configWith({ databaseUrl }));
  try {
    const services = runtime.services as unknown as Record<string, Partial<Registrar>>;
    const name = Object.keys(services).find((k) => /client/i.test(k) && typeof services[k]?.create === 'function');
    if (!name) return { skipped: 'no OAuth client service found in this tree' };
    const made = await (services[name] as Registrar).create({ name: 'bench', scopes: ['read'], rateLimitPerMinute: BENCH_RATE_LIMIT });
    const id = made.client_id ?? made.clientId ?? made.id;
    const secret = made.client_secret ?? made.clientSecret ?? made.secret;
    if (typeof id !== 'string' || typeof secret !== 'string') return { skipped: `services.${name}.create returned no client id and secret` };
    return { id, secret };
  } catch (err) {
    return { skipped: `registering a client failed: ${(err as Error).message}` };
  } finally {
    await runtime.close();
  }
}
