/**
 * `tsx bench/in-process.ts [patch|get] [--users N] [--requests N]`: the service's CPU time per
 * request with no network and no other process involved (Fastify's inject, one request at a
 * time, logs to a file). Less realistic than `npm run bench`, much less moved by a busy machine:
 * the tool to tell whether a change to the code made a request cheaper. Run it under
 * `node --cpu-prof --import tsx` to see where the time goes.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../src/app.js';
import { openRuntime } from '../src/compose.js';
import { configWith } from '../src/config.js';
import { benchUserId, seedUsers } from './seed.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { users: { type: 'string' }, requests: { type: 'string' } } });
const mode = positionals[0] ?? 'patch';
const users = Number(values.users ?? 10_000);
const requests = Number(values.requests ?? 10_000);

const dir = mkdtempSync(join(tmpdir(), 'roster-in-process-'));
try {
  const databaseUrl = join(dir, 'roster.db');
  const { seconds } = await seedUsers(databaseUrl, users);
  console.error(`seeded ${users.toLocaleString('en')} users in ${seconds.toFixed(1)} s`);
  const config = configWith({ databaseUrl, port: 0, logLevel: 'info' });
  // As `roster serve` opens it (src/main.ts).
  const runtime = await openRuntime(config, { checkpointInBackground: true });
  const { secret } = await runtime.services.apiKeys.create({ name: 'bench', scopes: ['admin'], rateLimitPerMinute: 100_000_000 });
  const logStream = createWriteStream(join(dir, 'log'));
  const app = await buildApp({ config, services: { ...runtime.services, limiter: runtime.limiter, readiness: runtime.readiness }, logStream });
  const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };

  const once = async (i: number) => {
    const url = `/v1/users/${benchUserId(Math.floor(Math.random() * users))}`;
    const res =
      mode === 'patch'
        ? await app.inject({ method: 'PATCH', url, headers, payload: JSON.stringify({ first_name: `N${i}` }) })
        : await app.inject({ method: 'GET', url, headers });
    if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`);
  };
  for (let i = 0; i < 2000; i++) await once(i); // warm-up
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < requests; i++) await once(i);
  const used = process.cpuUsage(cpu);
  const wall = performance.now() - started;
  console.log(`${mode} with ${users.toLocaleString('en')} users: CPU ${((used.user + used.system) / requests).toFixed(0)} µs/request, wall ${((wall * 1000) / requests).toFixed(0)} µs/request`);
  await app.close();
  await runtime.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
