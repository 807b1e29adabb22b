import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { settings } from '../../src/config.js';

/** The repository root, and the installed entry point of the `roster` command. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'bin', 'roster.js');

/**
 * The environment a child gets: this one without any Roster setting (so a developer's own
 * PORT or DATABASE_URL cannot leak into a test), plus `env`.
 */
export function childEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = { ...process.env };
  for (const s of settings) delete clean[s.env];
  return { ...clean, ...env };
}

function assertBuilt(): void {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) before the CLI tests');
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `node bin/roster.js …` (or another command) and collects its output. */
export function spawnRoster(args: string[], options: { env?: Record<string, string>; cwd?: string; command?: string[] } = {}) {
  assertBuilt();
  const [cmd, ...pre] = options.command ?? [process.execPath, BIN];
  const child: ChildProcess = spawn(cmd, [...pre, ...args], { cwd: options.cwd ?? ROOT, env: childEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (c) => (out.stdout += c));
  child.stderr!.on('data', (c) => (out.stderr += c));
  const done = new Promise<RunResult>((resolveDone, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolveDone({ code, signal, ...out }));
  });
  return { child, out, done };
}

/** Runs `roster …` to completion. */
export function runRoster(args: string[], options: { env?: Record<string, string>; cwd?: string; command?: string[] } = {}): Promise<RunResult> {
  return spawnRoster(args, options).done;
}
