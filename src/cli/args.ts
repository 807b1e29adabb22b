import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { existsSync } from 'node:fs';
import { type Runtime, openRuntime } from '../compose.js';
import { migrations } from '../store/migrations/index.js';
import { sqlitePath } from '../store/database.js';
import { type Config, ConfigError, type SettingName, flagOf, loadConfig, settings } from '../config.js';

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Every setting is also a flag (`--database-url`), so any command runs against any deployment. */
const settingFlags: Options = Object.fromEntries(settings.map((s) => [flagOf(s.env), { type: 'string' as const }]));

/** Parses a command's own flags together with the setting flags; the config comes from both plus the environment. */
export function parseCommand<O extends Options>(argv: string[], own: O, positionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...settingFlags, ...own }, allowPositionals: positionals > 0, strict: true });
  } catch (err) {
    // Node's messages may span lines (a hint follows); a usage error is one line.
    throw new UsageError((err as Error).message.replace(/\s*\n\s*/g, ' '));
  }
  if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument: ${parsed.positionals[positionals]}`);
  const flags: Partial<Record<SettingName, string>> = {};
  for (const s of settings) {
    const v = (parsed.values as Record<string, unknown>)[flagOf(s.env)];
    if (typeof v === 'string') flags[s.env] = v;
  }
  const config: Config = loadConfig(process.env, flags);
  return { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals, config };
}

export { ConfigError };

/**
 * Checks what a command is about to create against the API's schema for the same request, so
 * that the CLI makes nothing the API would refuse. `flags` names the flag of each field.
 */
export function checkAgainst(schema: TSchema, body: Record<string, unknown>, flags: Record<string, string>): void {
  const [problem] = Value.Errors(schema, body);
  if (!problem) return;
  const field = problem.instancePath.split('/')[1] ?? '';
  // A pattern's own wording, as the API gives it (`x-error-message`), rather than the pattern.
  const own = (schema as { properties?: Record<string, Record<string, unknown>> }).properties?.[field]?.['x-error-message'];
  throw new UsageError(`${flags[field] ?? `--${field}`}: ${problem.keyword === 'pattern' && typeof own === 'string' ? own : problem.message}`);
}

/** The SQLite file `databaseUrl` names, if it is one that does not exist yet; else null. */
export function missingSqliteFile(databaseUrl: string): string | null {
  if (/^postgres(ql)?:/i.test(databaseUrl)) return null;
  const path = sqlitePath(databaseUrl);
  return path === ':memory:' || existsSync(path) ? null : path;
}

/**
 * As withRuntime, for a command that only reads or removes: a SQLite file that does not exist is
 * a mistyped DATABASE_URL more often than a new deployment, and making it would hide that.
 */
export async function withExistingRuntime<T>(config: Config, fn: (runtime: Runtime) => Promise<T>): Promise<T> {
  const missing = missingSqliteFile(config.databaseUrl);
  if (missing) throw new UsageError(`no database at ${missing} (DATABASE_URL); roster serve, roster migrate or a create command makes one`);
  return withRuntime(config, fn);
}

/**
 * Runs `fn` on a runtime opened with `config` (no HTTP), and always closes it. Opening applies
 * pending migrations, as `roster serve` does; said on stderr, since servers of the older
 * version may still be running on the database.
 */
export async function withRuntime<T>(config: Config, fn: (runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await openRuntime(config);
  const { migrated } = runtime;
  if (migrated.length === Object.keys(migrations).length) process.stderr.write('roster: set up a new database (DATABASE_URL)\n');
  else if (migrated.length > 0) process.stderr.write(`roster: applied pending migrations to the database (DATABASE_URL): ${migrated.join(', ')}\n`);
  try {
    return await fn(runtime);
  } finally {
    await runtime.close();
  }
}
