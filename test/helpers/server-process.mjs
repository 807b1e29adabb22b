// A Roster server in its own process, for tests that kill it (kill -9). Runs the build (dist/,
// made by `npm test` or `npm run build`) with plain node, as production does: starting through
// tsx would compile the sources on every start. Reads ROSTER_TEST_DATABASE_URL and
// ROSTER_TEST_SERVER_OPTIONS (JSON), mints an admin key, and prints one JSON line: {"url", "key"}.
import { configWith } from '../../dist/config.js';
import { startServer } from '../../dist/main.js';

const config = configWith({
  port: 0,
  host: '127.0.0.1',
  databaseUrl: process.env.ROSTER_TEST_DATABASE_URL,
  logLevel: 'warn',
  webhookAllowPrivate: true,
  rateLimitPerMinute: 100_000,
});
const server = await startServer(config, process.stderr, JSON.parse(process.env.ROSTER_TEST_SERVER_OPTIONS ?? '{}'));
const key = await server.runtime.services.apiKeys.create({ name: 'process', scopes: ['admin'] });
process.stdout.write(`${JSON.stringify({ url: server.url, key: key.secret })}\n`);
