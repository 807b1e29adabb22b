import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The installed entry point; it runs the build in dist/ (`npm test` builds first). */
export const ROSTER_BIN = fileURLToPath(new URL('../../bin/roster.js', import.meta.url));
const DIST_CLI = fileURLToPath(new URL('../../dist/cli/index.js', import.meta.url));

function requireBuild(): void {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` (npm test does) before this test');
}

/** Settings for a child: the parent's environment minus anything that would point it elsewhere. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'REDIS_PREFIX', 'PORT', 'HOST', 'LOG_LEVEL', 'RATE_LIMIT_PER_MINUTE']) delete base[k];
  return { ...base, ...env };
}

export interface RosterResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `roster ARGS` to completion. */
export function runRoster(args: string[], env: Record<string, string>): Promise<RosterResult> {
  requireBuild();
  return new Promise((resolve) => {
    execFile(process.execPath, [ROSTER_BIN, ...args], { env: childEnv(env), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A free TCP port on 127.0.0.1, for a child that must be reachable at a known address. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface RosterServer {
  url: string;
  child: ChildProcess;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts `roster serve` as its own process on a free port; `ready` is polled by the caller. */
export async function spawnRosterServer(env: Record<string, string>): Promise<RosterServer> {
  requireBuild();
  const port = await freePort();
  const child = spawn(process.execPath, [ROSTER_BIN, 'serve'], {
    env: childEnv({ HOST: '127.0.0.1', PORT: String(port), ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      try {
        if (line.trim()) logs.push(JSON.parse(line));
      } catch {
        logs.push({ msg: line });
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => logs.push({ stderr: chunk.toString() }));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    logs,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
