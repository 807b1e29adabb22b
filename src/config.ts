/**
 * Every setting of the service, declared once: its environment variable, its `roster` flag
 * (derived from the variable's name: RATE_LIMIT_PER_MINUTE → --rate-limit-per-minute), its kind
 * and its default. A bad value stops the start with one line naming the variable.
 */

/** The most ACCESS_TOKEN_TTL_SECONDS may be: no access token of any instance outlives it. */
export const LONGEST_ACCESS_TOKEN_SECONDS = 86_400;

export class ConfigError extends Error {}

type Kind =
  | { type: 'int'; min: number; max: number }
  | { type: 'string'; maxLength?: number }
  | { type: 'url'; protocols: string[]; bare?: true }
  | { type: 'database' }
  | { type: 'mailbox' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'list'; item: RegExp }
  | { type: 'bool' }
  | { type: 'workers' };

interface Setting {
  env: string;
  kind: Kind;
  default: string | null;
  description: string;
}

const ROLE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

export const settings = [
  { env: 'PORT', kind: { type: 'int', min: 0, max: 65535 }, default: '8080', description: 'TCP port to listen on' },
  { env: 'HOST', kind: { type: 'string', maxLength: 255 }, default: '127.0.0.1', description: 'address to listen on' },
  {
    env: 'DATABASE_URL',
    kind: { type: 'database' },
    default: './data/roster.db',
    description: 'a SQLite file path or sqlite: URL, or a postgres:// URL',
  },
  { env: 'DATABASE_POOL_SIZE', kind: { type: 'int', min: 1, max: 1000 }, default: '10', description: 'PostgreSQL connections per process' },
  {
    env: 'DATABASE_STATEMENT_TIMEOUT_MS',
    kind: { type: 'int', min: 0, max: 3_600_000 },
    default: '5000',
    description: 'PostgreSQL statement timeout (0 = none)',
  },
  { env: 'REDIS_URL', kind: { type: 'url', protocols: ['redis:', 'rediss:'] }, default: null, description: 'Redis for shared rate limits and revocations' },
  { env: 'REDIS_PREFIX', kind: { type: 'string', maxLength: 100 }, default: 'roster:', description: 'prefix of every Redis key' },
  {
    env: 'LOG_LEVEL',
    kind: { type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    default: 'info',
    description: 'log level',
  },
  { env: 'PUBLIC_URL', kind: { type: 'url', protocols: ['http:', 'https:'], bare: true }, default: null, description: 'base URL clients see (default http://HOST:PORT)' },
  { env: 'ROLES', kind: { type: 'list', item: ROLE_NAME }, default: 'admin,member,viewer', description: 'the roles a user may have' },
  { env: 'DEFAULT_ROLE', kind: { type: 'string', maxLength: 32 }, default: 'member', description: 'role of a user created without one' },
  { env: 'RATE_LIMIT_PER_MINUTE', kind: { type: 'int', min: 1, max: 10_000_000 }, default: '600', description: 'requests per minute per credential' },
  {
    env: 'AUTH_FAILURES_PER_MINUTE',
    kind: { type: 'int', min: 1, max: 10_000_000 },
    default: '60',
    description: 'failed authentications per minute per client address',
  },
  { env: 'SMTP_URL', kind: { type: 'url', protocols: ['smtp:', 'smtps:'] }, default: null, description: 'SMTP server for email (default: write mail to the log)' },
  { env: 'EMAIL_FROM', kind: { type: 'mailbox' }, default: 'Roster <no-reply@localhost>', description: 'sender of every email' },
  {
    env: 'EMAIL_CHANGE_VERIFICATION',
    kind: { type: 'enum', values: ['optional', 'required'] },
    default: 'optional',
    description: 'whether an email change waits for the new address to be confirmed',
  },
  { env: 'OAUTH_ISSUER', kind: { type: 'url', protocols: ['http:', 'https:'], bare: true }, default: null, description: 'external OAuth 2.0 issuer whose tokens are accepted' },
  { env: 'OAUTH_AUDIENCE', kind: { type: 'string', maxLength: 2048 }, default: null, description: 'required `aud` of external tokens' },
  { env: 'OAUTH_JWKS_URL', kind: { type: 'url', protocols: ['http:', 'https:'] }, default: null, description: "external issuer's JWKS (default: from its metadata)" },
  {
    env: 'OAUTH_JWKS_COOLDOWN_SECONDS',
    kind: { type: 'int', min: 1, max: 3600 },
    default: '60',
    description: "least seconds between two fetches of the external issuer's JWKS for an unknown kid",
  },
  {
    env: 'ACCESS_TOKEN_TTL_SECONDS',
    kind: { type: 'int', min: 30, max: LONGEST_ACCESS_TOKEN_SECONDS },
    default: '900',
    description: 'lifetime of access tokens issued by POST /oauth/token',
  },
  { env: 'WEBHOOK_ALLOW_PRIVATE', kind: { type: 'bool' }, default: 'false', description: 'allow webhook URLs on loopback or private addresses' },
  { env: 'CORS_ORIGINS', kind: { type: 'list', item: /^https?:\/\/[^\s,/]+$/ }, default: '', description: 'origins allowed by CORS (default: none)' },
  { env: 'WORKERS', kind: { type: 'workers' }, default: '1', description: 'server processes sharing the port (a number, or auto)' },
  {
    env: 'HEADERS_TIMEOUT_MS',
    kind: { type: 'int', min: 100, max: 600_000 },
    default: '10000',
    description: 'time a client has to send the request headers before its connection is closed',
  },
  { env: 'REQUEST_TIMEOUT_MS', kind: { type: 'int', min: 100, max: 600_000 }, default: '30000', description: 'time a client has to send a whole request (answered 408)' },
  {
    env: 'SQLITE_SYNCHRONOUS',
    kind: { type: 'enum', values: ['normal', 'full'] },
    default: 'normal',
    description: 'SQLite durability: normal survives process crashes, full also power loss (slower writes)',
  },
] as const satisfies readonly Setting[];

export type SettingName = (typeof settings)[number]['env'];

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly databaseUrl: string;
  readonly databasePoolSize: number;
  readonly databaseStatementTimeoutMs: number;
  readonly redisUrl: string | null;
  readonly redisPrefix: string;
  readonly logLevel: string;
  readonly publicUrl: string;
  readonly roles: readonly string[];
  readonly defaultRole: string;
  readonly rateLimitPerMinute: number;
  readonly authFailuresPerMinute: number;
  readonly smtpUrl: string | null;
  readonly emailFrom: string;
  readonly emailChangeVerification: 'optional' | 'required';
  readonly oauthIssuer: string | null;
  readonly oauthAudience: string | null;
  readonly oauthJwksUrl: string | null;
  readonly oauthJwksCooldownSeconds: number;
  readonly accessTokenTtlSeconds: number;
  readonly webhookAllowPrivate: boolean;
  readonly corsOrigins: readonly string[];
  readonly workers: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly sqliteSynchronous: 'normal' | 'full';
}

/** `RATE_LIMIT_PER_MINUTE` → `--rate-limit-per-minute`. */
export function flagOf(env: string): string {
  return env.toLowerCase().replaceAll('_', '-');
}

function parseValue(setting: Setting, raw: string): unknown {
  const fail = (why: string): never => {
    throw new ConfigError(`Invalid ${setting.env} (--${flagOf(setting.env)}): ${why}`);
  };
  const kind = setting.kind;
  // Kept, a space would become part of the issuer, the links and the audience it is compared
  // with (an env file's trailing space, say). The value itself is not shown: it may hold a password.
  if (kind.type !== 'list' && raw.trim() !== raw) fail('has whitespace at its start or end');
  switch (kind.type) {
    case 'int': {
      if (!/^\d+$/.test(raw)) fail(`expected a whole number, got "${raw}"`);
      const n = Number(raw);
      if (n < kind.min || n > kind.max) fail(`expected ${kind.min} to ${kind.max}, got ${raw}`);
      return n;
    }
    case 'string':
      if (raw.length === 0) fail('must not be empty');
      if (kind.maxLength && raw.length > kind.maxLength) fail(`longer than ${kind.maxLength} characters`);
      return raw;
    case 'url': {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        // A URL may carry a password (REDIS_URL, SMTP_URL), and this line goes to the log.
        return fail(`not a URL: "${raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@')}"`);
      }
      if (!kind.protocols.includes(url.protocol)) fail(`expected a ${kind.protocols.join(' or ')} URL`);
      // A base URL that others are built on (an issuer, endpoints) has nothing after its path.
      if (kind.bare && (url.search || url.hash || url.username || url.password || raw.includes('?') || raw.includes('#'))) {
        fail('must not have a query, a fragment or credentials');
      }
      return raw.replace(/\/+$/, '');
    }
    case 'database': {
      if (raw.length === 0 || raw.length > 2048) fail('expected a SQLite file path or sqlite: URL, or a postgres:// URL');
      const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(raw)?.[1]?.toLowerCase();
      if (scheme === 'postgres' || scheme === 'postgresql') {
        try {
          new URL(raw);
        } catch {
          fail('not a valid postgres:// URL');
        }
      } else if (scheme !== undefined && scheme !== 'sqlite') {
        // Anything else with a scheme (mysql:, http:, a typo) would become a file of that name.
        fail(`expected a SQLite file path or sqlite: URL, or a postgres:// URL, got a ${scheme}: URL`);
      } else if (scheme === 'sqlite' && /^sqlite:(\/\/)?$/i.test(raw)) {
        fail('a sqlite: URL needs a file path, as in sqlite:./data/roster.db');
      }
      return raw;
    }
    case 'mailbox':
      // An address, or a display name and <address>; without one, mail would leave with an empty sender.
      if (!/^(?:[^<>]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/.test(raw.trim()) || raw.length > 254) fail(`expected an email address or "Name <address>", got "${raw}"`);
      return raw;
    case 'enum':
      if (!kind.values.includes(raw)) fail(`expected one of ${kind.values.join(', ')}, got "${raw}"`);
      return raw;
    case 'list': {
      const items = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      for (const item of items) if (!kind.item.test(item)) fail(`"${item}" is not allowed`);
      return Object.freeze([...new Set(items)]);
    }
    case 'bool':
      if (!['true', 'false', '1', '0'].includes(raw)) fail(`expected true or false, got "${raw}"`);
      return raw === 'true' || raw === '1';
    case 'workers': {
      if (raw === 'auto') return 0;
      if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 64) fail(`expected 1 to 64 or auto, got "${raw}"`);
      return Number(raw);
    }
  }
}

function camel(env: string): string {
  return env.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Builds the frozen Config from environment variables, overridden by flags (`--port 9000`).
 * Throws ConfigError with one line naming the first bad setting.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  flags: Partial<Record<SettingName, string>> = {},
): Config {
  const values: Record<string, unknown> = {};
  for (const setting of settings as readonly Setting[]) {
    const raw = flags[setting.env as SettingName] ?? env[setting.env];
    const given = raw !== undefined && raw !== '';
    const source = given ? raw : setting.default;
    values[camel(setting.env)] = source === null ? null : parseValue(setting, source);
  }
  const config = values as unknown as Config & { publicUrl: string | null; workers: number };
  if (config.roles.length === 0) throw new ConfigError('Invalid ROLES (--roles): at least one role is needed');
  if (!config.roles.includes(config.defaultRole)) {
    throw new ConfigError(`Invalid DEFAULT_ROLE (--default-role): "${config.defaultRole}" is not one of ROLES (${config.roles.join(', ')})`);
  }
  // Without an issuer no external token is accepted: either alone would be silently ignored.
  if (config.oauthAudience && !config.oauthIssuer) {
    throw new ConfigError('Invalid OAUTH_AUDIENCE (--oauth-audience): it needs OAUTH_ISSUER');
  }
  if (config.oauthJwksUrl && !config.oauthIssuer) {
    throw new ConfigError('Invalid OAUTH_JWKS_URL (--oauth-jwks-url): it needs OAUTH_ISSUER');
  }
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return Object.freeze({
    ...config,
    publicUrl: config.publicUrl ?? `http://${host}:${config.port}`,
  });
}

/** A config for tests and tools: the defaults, with the given fields replaced. */
export function configWith(overrides: Partial<Config>): Config {
  return Object.freeze({ ...loadConfig({}), ...overrides });
}
