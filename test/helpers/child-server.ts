import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configWith } from '../../src/config.js';
import { openRuntime } from '../../src/compose.js';
import type { Scope } from '../../src/services/auth.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'roster.js');

/** `npm test` builds first; a file run on its own builds here if there is no build yet. */
export function ensureBuilt(): void {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'index.js'))) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
}

/** The built server, `node bin/roster.js serve`, as a child process: what an operator runs. */
export interface ChildServer {
  url: string;
  process: ChildProcess;
  /** Every line it wrote to stdout and stderr. */
  lines: string[];
  exited: Promise<number | null>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<number | null>;
}

/** Starts the built server on a free port and waits (polling, generously) until it listens. */
export async function spawnServer(databaseUrl: string, env: Record<string, string> = {}): Promise<ChildServer> {
  ensureBuilt();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: databaseUrl, LOG_LEVEL: 'info', RATE_LIMIT_PER_MINUTE: '10000000', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  const collect = (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter((l) => l.trim()));
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let url: string | undefined;
  const deadline = Date.now() + 60_000;
  while (!url) {
    for (const line of lines) {
      const match = /"url":"(http:\/\/[^"]+)"/.exec(line);
      if (match && line.includes('roster listening')) url = match[1];
    }
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}:\n${lines.join('\n')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the server did not start:\n${lines.join('\n')}`);
    }
    if (!url) await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    process: child,
    lines,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Mints an API key straight in the database, as `roster keys create` does. */
export async function mintKeyIn(databaseUrl: string, scopes: Scope[]): Promise<string> {
  const runtime = await openRuntime(configWith({ databaseUrl }));
  try {
    return (await runtime.services.apiKeys.create({ name: 'child', scopes })).secret;
  } finally {
    await runtime.close();
  }
}
