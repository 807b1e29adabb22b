/**
 * `npm run soak`: mixed traffic against the built server for a bounded time (default two
 * minutes), then a verdict: no errors, p99 latency stable, resident memory growth after warm-up
 * under 15%. SOAK_SECONDS, SOAK_CONCURRENCY and SOAK_DATABASE_URL (default: a temporary SQLite
 * file) adjust it. Exits 1 when a check fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { call } from '../test/helpers/client.js';
import { mintKeyIn, spawnServer } from '../test/helpers/child-server.js';
import { findLeaks } from '../test/helpers/log-scan.js';

export interface SoakOptions {
  seconds: number;
  concurrency: number;
  databaseUrl?: string;
  /** Part of the run before memory and latency baselines are taken. */
  warmupFraction?: number;
}

export interface SoakReport {
  requests: number;
  errors: string[];
  /** p99 latency (ms) of each tenth of the run after warm-up. */
  p99ByWindow: number[];
  rssAfterWarmup: number;
  rssAtEnd: number;
  rssGrowth: number;
  leaks: string[];
}

function p99(samples: number[]): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))];
}

async function rssOf(url: string, adminKey: string): Promise<number> {
  const res = await call(url, 'GET', '/metrics', { key: adminKey });
  const match = /^roster_process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(res.text);
  if (!match) throw new Error('no roster_process_resident_memory_bytes in /metrics');
  return Number(match[1]);
}

/** Runs the soak; the caller judges the report (see `verdict`). */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const tmp = options.databaseUrl ? undefined : mkdtempSync(join(tmpdir(), 'roster-soak-'));
  const databaseUrl = options.databaseUrl ?? join(tmp!, 'soak.db');
  const key = await mintKeyIn(databaseUrl, ['write']);
  const admin = await mintKeyIn(databaseUrl, ['admin']);
  const server = await spawnServer(databaseUrl);
  const errors: string[] = [];
  const latencies: Array<[number, number]> = [];
  const start = performance.now();
  const end = start + options.seconds * 1000;
  const warmupEnd = start + options.seconds * 1000 * (options.warmupFraction ?? 0.25);
  let requests = 0;
  let rssAfterWarmup = 0;

  async function timed(method: string, path: string, body: unknown, expected: number[], headers: Record<string, string> = {}) {
    const t0 = performance.now();
    try {
      const res = await call(server.url, method, path, { key, body, headers });
      requests += 1;
      latencies.push([t0, performance.now() - t0]);
      if (!expected.includes(res.status)) errors.push(`${method} ${path}: ${res.status} ${res.text.slice(0, 200)}`);
      return res;
    } catch (err) {
      errors.push(`${method} ${path}: ${(err as Error).message}`);
      return undefined;
    }
  }

  async function worker(n: number) {
    const mine: Array<{ id: string; etag: string }> = [];
    let seq = 0;
    while (performance.now() < end && errors.length < 20) {
      const roll = Math.random();
      seq += 1;
      if (mine.length < 5 || roll < 0.2) {
        const tag = `s${n}x${seq}x${Math.random().toString(36).slice(2, 8)}`;
        const res = await timed('POST', '/v1/users', { email: `${tag}@example.com`, username: tag, first_name: 'Soak', metadata: { n, seq } }, [201]);
        if (res?.status === 201) mine.push({ id: res.body.id, etag: res.headers.get('etag')! });
      } else if (roll < 0.5) {
        const u = mine[Math.floor(Math.random() * mine.length)];
        await timed('GET', `/v1/users/${u.id}`, undefined, [200]);
      } else if (roll < 0.65) {
        await timed('GET', `/v1/users?limit=20&q=s${n}x`, undefined, [200]);
      } else if (roll < 0.9) {
        const u = mine[Math.floor(Math.random() * mine.length)];
        const res = await timed('PATCH', `/v1/users/${u.id}`, { last_name: `L${seq}`, metadata: { seq } }, [200], { 'if-match': u.etag });
        if (res?.status === 200) u.etag = res.headers.get('etag')!;
      } else {
        const u = mine.splice(Math.floor(Math.random() * mine.length), 1)[0];
        await timed('DELETE', `/v1/users/${u.id}`, undefined, [204]);
      }
    }
  }

  const sampler = (async () => {
    while (performance.now() < warmupEnd) await new Promise((r) => setTimeout(r, 100));
    rssAfterWarmup = await rssOf(server.url, admin);
  })();
  try {
    await Promise.all([...Array.from({ length: options.concurrency }, (_, n) => worker(n)), sampler]);
    const rssAtEnd = await rssOf(server.url, admin);
    const windows = 10;
    const span = (end - warmupEnd) / windows;
    const p99ByWindow = Array.from({ length: windows }, (_, w) => p99(latencies.filter(([t]) => t >= warmupEnd + w * span && t < warmupEnd + (w + 1) * span).map(([, d]) => d)));
    return {
      requests,
      errors,
      p99ByWindow: p99ByWindow.map((v) => Math.round(v * 10) / 10),
      rssAfterWarmup,
      rssAtEnd,
      rssGrowth: rssAtEnd / rssAfterWarmup - 1,
      leaks: findLeaks(server.lines, [key, admin]),
    };
  } finally {
    await server.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

/** The failed checks of a report; empty when the soak passed. */
export function verdict(report: SoakReport, { checkLatencyAndMemory = true } = {}): string[] {
  const failures: string[] = [];
  if (report.requests === 0) failures.push('no request was made');
  if (report.errors.length > 0) failures.push(`errors:\n  ${report.errors.slice(0, 10).join('\n  ')}`);
  if (report.leaks.length > 0) failures.push(`secrets in the logs:\n  ${report.leaks.slice(0, 5).join('\n  ')}`);
  if (checkLatencyAndMemory) {
    const measured = report.p99ByWindow.filter((v) => v > 0);
    const baseline = Math.max(...measured.slice(0, 3));
    const late = Math.max(...measured.slice(-3));
    // Stable: the last windows no worse than twice the first ones (plus 20 ms of noise).
    if (late > baseline * 2 + 20) failures.push(`p99 grew from ${baseline} ms to ${late} ms`);
    if (report.rssGrowth >= 0.15) failures.push(`RSS grew ${(report.rssGrowth * 100).toFixed(1)}% after warm-up`);
  }
  return failures;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const report = await runSoak({
    seconds: Number(process.env.SOAK_SECONDS ?? 120),
    concurrency: Number(process.env.SOAK_CONCURRENCY ?? 8),
    databaseUrl: process.env.SOAK_DATABASE_URL,
  });
  const failures = verdict(report);
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
  console.log(`requests: ${report.requests}, errors: ${report.errors.length}`);
  console.log(`p99 by window (ms): ${report.p99ByWindow.join(' ')}`);
  console.log(`RSS: ${mb(report.rssAfterWarmup)} after warm-up, ${mb(report.rssAtEnd)} at the end (${(report.rssGrowth * 100).toFixed(1)}%)`);
  console.log(failures.length ? `FAILED:\n${failures.join('\n')}` : 'soak passed');
  process.exitCode = failures.length ? 1 : 0;
}
