import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface Target {
  name: string;
  url: string;
  pid: number;
  /** Resident memory of the process and its children (cluster workers), in bytes. */
  rss(): number;
  /** CPU time used so far by the process and its children (cluster workers), in seconds. */
  cpu(): number;
  stop(): Promise<void>;
}

const ROOT = join(import.meta.dirname, '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function vmRss(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

// /proc/PID/stat counts in clock ticks, 100 per second on Linux.
const TICKS_PER_SECOND = 100;

function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** The process tree's CPU time: unlike throughput, barely moved by other work on a shared machine. */
export function treeCpu(pid: number): number {
  return cpuOf(pid) + childrenOf(pid).reduce((sum, child) => sum + treeCpu(child), 0);
}

/** The process tree's resident memory: the server, or a cluster primary and its workers. */
export function treeRss(pid: number): number {
  return vmRss(pid) + childrenOf(pid).reduce((sum, child) => sum + treeRss(child), 0);
}

async function waitUntilUp(url: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}; see ${logFile}`);
    try {
      const res = await fetch(`${url}/healthz`);
      await res.arrayBuffer();
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url}: no answer within 60 s; see ${logFile}`);
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
}

/**
 * The real service as it is deployed: the built `roster serve`, its log lines (one per request)
 * written to a file as they would be to a collector.
 */
export async function startService(opts: { name: string; env: Record<string, string>; logDir: string; cpuProfDir?: string }): Promise<Target> {
  const port = await freePort();
  const logFile = join(opts.logDir, `${opts.name}.log`);
  const out = openSync(logFile, 'a');
  const nodeArgs = opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [];
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin/roster.js'), 'serve'], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', out, out],
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = stopper(child);
  try {
    await waitUntilUp(url, child, logFile);
  } catch (err) {
    await stop();
    throw err;
  }
  return { name: opts.name, url, pid: child.pid!, rss: () => treeRss(child.pid!), cpu: () => treeCpu(child.pid!), stop };
}

/** The framework-free reference server on the given SQLite file. */
export async function startReference(dbPath: string, logDir: string, name = 'reference'): Promise<Target> {
  const logFile = join(logDir, `${name}.log`);
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/reference-server.ts'), dbPath], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', openSync(logFile, 'a')],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /listening (\d+)/.exec(text);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`reference server exited with ${code}; see ${logFile}`)));
  });
  return { name, url: `http://127.0.0.1:${port}`, pid: child.pid!, rss: () => treeRss(child.pid!), cpu: () => treeCpu(child.pid!), stop: stopper(child) };
}
