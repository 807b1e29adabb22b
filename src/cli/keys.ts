import { CreateApiKeyBody } from '../schemas/api-keys.js';
import { SCOPES, type Scope } from '../services/auth.js';
import { UsageError, checkAgainst, parseCommand, withExistingRuntime, withRuntime } from './args.js';

export const keysUsage = `roster keys create --name NAME --scopes read,write[,admin] [--expires-in 30d] [--rate-limit N] [--json]
roster keys list [--json]
roster keys revoke KEY_ID`;

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90`, `90s`, `15m`, `12h`, `30d` → seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text);
  if (!match) throw new UsageError(`--expires-in: expected a duration such as 3600, 90m, 12h or 30d, got "${text}"`);
  return Number(match[1]) * UNITS[match[2] || 's'];
}

export function parseScopes(text: string | undefined): Scope[] {
  const scopes = (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (scopes.length === 0) throw new UsageError('--scopes is required: a comma list of read, write, admin');
  for (const s of scopes) if (!SCOPES.includes(s as Scope)) throw new UsageError(`--scopes: unknown scope "${s}" (read, write, admin)`);
  return scopes as Scope[];
}

export function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

/** `roster keys …`: works against the same database as a running server, never through HTTP. */
export async function keysCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'create') {
    const { values, config } = parseCommand(rest, {
      name: { type: 'string' },
      scopes: { type: 'string' },
      'expires-in': { type: 'string' },
      'rate-limit': { type: 'string' },
      json: { type: 'boolean' },
    });
    const name = values.name;
    if (typeof name !== 'string' || name.length === 0 || name.length > 100) throw new UsageError('--name is required (1 to 100 characters)');
    const scopes = parseScopes(values.scopes as string | undefined);
    const expiresInSeconds = typeof values['expires-in'] === 'string' ? parseDuration(values['expires-in']) : undefined;
    const rateText = values['rate-limit'];
    if (rateText !== undefined && !/^\d{1,9}$/.test(String(rateText))) throw new UsageError('--rate-limit: expected a whole number of requests per minute');
    const rateLimitPerMinute = rateText === undefined ? undefined : Number(rateText);
    checkAgainst(
      CreateApiKeyBody,
      { name, scopes, ...(expiresInSeconds === undefined ? {} : { expires_in: expiresInSeconds }), ...(rateLimitPerMinute === undefined ? {} : { rate_limit_per_minute: rateLimitPerMinute }) },
      { name: '--name', scopes: '--scopes', expires_in: '--expires-in (in seconds)', rate_limit_per_minute: '--rate-limit' },
    );
    return withRuntime(config, async (runtime) => {
      const key = await runtime.services.apiKeys.create({ name, scopes, expiresInSeconds, rateLimitPerMinute });
      print(
        values.json === true,
        key,
        `Created API key ${key.id} "${key.name}" (scopes: ${key.scopes.join(', ')}${key.expires_at ? `; expires ${key.expires_at}` : ''}).\n` +
          `Secret, shown this once; store it now:\n${key.secret}`,
      );
      return 0;
    });
  }
  if (sub === 'list') {
    const { values, config } = parseCommand(rest, { json: { type: 'boolean' } });
    return withExistingRuntime(config, async (runtime) => {
      const keys = await runtime.services.apiKeys.list();
      const lines = keys.map((k) => `${k.id}  ${k.name}  ${k.scopes.join(',')}  created ${k.created_at}  last used ${k.last_used_at ?? 'never'}${k.expires_at ? `  expires ${k.expires_at}` : ''}`);
      print(values.json === true, { data: keys }, lines.length > 0 ? lines.join('\n') : 'No API keys.');
      return 0;
    });
  }
  if (sub === 'revoke') {
    const { positionals, config } = parseCommand(rest, {}, 1);
    const id = positionals[0];
    if (!id) throw new UsageError('usage: roster keys revoke KEY_ID');
    return withExistingRuntime(config, async (runtime) => {
      await runtime.services.apiKeys.revoke(id);
      process.stdout.write(`Revoked ${id}.\n`);
      return 0;
    });
  }
  throw new UsageError(keysUsage);
}
