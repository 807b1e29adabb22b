import { AppError, ListenError } from '../errors.js';
import { DatabaseConnectError, DatabaseOpenError, connectDatabase } from '../store/database.js';
import { MigrationError, migrateToLatest, pendingMigrations } from '../store/migrate.js';
import { migrations } from '../store/migrations/index.js';
import { ConfigError, UsageError, missingSqliteFile, parseCommand } from './args.js';
import { clientsCommand, clientsUsage, signingKeysCommand } from './clients.js';
import { keysCommand, keysUsage } from './keys.js';

const usage = `Usage:
roster serve [--port N] [--host H] [--database-url URL] [any setting as --flag]
${keysUsage}
${clientsUsage}
roster migrate [--dry-run]

Every setting is an environment variable (PORT) and a flag (--port); see the README.`;

async function migrateCommand(argv: string[]): Promise<number> {
  const { values, config } = parseCommand(argv, { 'dry-run': { type: 'boolean' } });
  // A dry run changes nothing: not even by creating the file it would migrate.
  if (values['dry-run'] && missingSqliteFile(config.databaseUrl)) {
    process.stdout.write(`Would apply:\n${Object.keys(migrations).join('\n')}\n`);
    return 0;
  }
  const database = await connectDatabase({ url: config.databaseUrl, poolSize: 1 });
  try {
    if (values['dry-run']) {
      const pending = await pendingMigrations(database);
      process.stdout.write(pending.length ? `Would apply:\n${pending.join('\n')}\n` : 'Up to date: nothing to apply.\n');
    } else {
      const applied = await migrateToLatest(database);
      process.stdout.write(applied.length ? `Applied:\n${applied.join('\n')}\n` : 'Up to date: nothing to apply.\n');
    }
    return 0;
  } finally {
    await database.close();
  }
}

/** The `roster` command. Returns the exit code; errors a user can fix print one line. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // `roster keys create --help` and the like: the usage, on stdout, and success.
  if (command !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  try {
    switch (command) {
      case 'serve': {
        const { config } = parseCommand(rest, {});
        // The HTTP stack is loaded only to serve: `keys` and `migrate` start faster without it.
        const { serve } = await import('../main.js');
        await serve(config);
        return 0;
      }
      case 'keys':
        return await keysCommand(rest);
      case 'clients':
        return await clientsCommand(rest);
      case 'signing-keys':
        return await signingKeysCommand(rest);
      case 'migrate':
        return await migrateCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${usage}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"\n${usage}`);
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`roster: ${err.message}\n`);
      return 2;
    }
    if (err instanceof DatabaseOpenError) {
      process.stderr.write(`roster: invalid DATABASE_URL (--database-url): ${err.message}\n`);
      return 2;
    }
    if (err instanceof DatabaseConnectError) {
      process.stderr.write(`roster: cannot connect to ${err.location} (DATABASE_URL): ${err.reason}\n`);
      return 1;
    }
    if (err instanceof MigrationError) {
      process.stderr.write(`roster: cannot migrate the database (DATABASE_URL): ${err.message.replace(/\s*\n\s*/g, ' ')}\n`);
      return 1;
    }
    if (err instanceof ListenError) {
      process.stderr.write(`roster: ${err.message}\n`);
      return 1;
    }
    if (err instanceof AppError) {
      process.stderr.write(`roster: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
