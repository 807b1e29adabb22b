import autocannon from 'autocannon';
import type { Target } from './processes.js';

/** One call pattern, as autocannon requests; `setupRequest` randomizes each request. */
export interface Scenario {
  id: string;
  title: string;
  /** Whether the reference server implements it (the OAuth flow it does not). */
  reference: boolean;
  requests(auth: string): autocannon.Request[];
}

export interface Measure {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** Mean latency in ms: finer than autocannon's whole-millisecond percentiles. */
  mean: number;
  /** Non-2xx answers plus connection errors and timeouts. */
  errors: number;
  /** Highest resident memory of the server's process tree seen during the run, in bytes. */
  peakRss: number;
  total: number;
  /** Server CPU time per request, in milliseconds. */
  cpuPerRequest: number;
}

export interface LoadOptions {
  seconds: number;
  connections: number;
}

/** Drives `target` with `scenario` for a while, sampling its memory every 50 ms. */
export async function measure(target: Target, scenario: Scenario, auth: string, options: LoadOptions): Promise<Measure> {
  let peakRss = target.rss();
  const cpuBefore = target.cpu();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, target.rss());
  }, 50);
  try {
    const result = await autocannon({
      url: target.url,
      connections: options.connections,
      duration: options.seconds,
      requests: scenario.requests(auth),
      timeout: 10,
    });
    peakRss = Math.max(peakRss, target.rss());
    const cpuSeconds = target.cpu() - cpuBefore;
    return {
      cpuPerRequest: result.requests.total > 0 ? (cpuSeconds * 1000) / result.requests.total : 0,
      requestsPerSecond: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      mean: result.latency.average,
      errors: result.non2xx + result.errors + result.timeouts,
      peakRss,
      total: result.requests.total,
    };
  } finally {
    clearInterval(sampler);
  }
}

/** The middle value (the mean of the middle two when there are an even number). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Rounds of one scenario on one target, summed up: the median round's throughput, latency and
 * CPU, all errors, the highest memory. The median, not the mean: on a shared machine one round
 * that met a busy moment would otherwise move the result, and the ratios with it, on its own.
 */
export function combine(rounds: Measure[]): Measure {
  const mid = (f: (m: Measure) => number) => median(rounds.map(f));
  return {
    requestsPerSecond: mid((m) => m.requestsPerSecond),
    p50: mid((m) => m.p50),
    p99: mid((m) => m.p99),
    mean: mid((m) => m.mean),
    errors: rounds.reduce((s, m) => s + m.errors, 0),
    peakRss: Math.max(...rounds.map((m) => m.peakRss)),
    total: rounds.reduce((s, m) => s + m.total, 0),
    cpuPerRequest: mid((m) => m.cpuPerRequest),
  };
}

/**
 * How `a` compares with `b`, round by round: the median of `of(a[i]) / of(b[i])`. Each round
 * measures the two of a pair side by side, seconds apart, so a drift of the machine over the run
 * moves both alike and cancels out, where a ratio of two medians could set one's quick round
 * against the other's slow one.
 */
export function pairedRatio(a: Measure[], b: Measure[], of: (m: Measure) => number): number {
  if (a.length !== b.length || a.length === 0) throw new Error(`paired ratio of ${a.length} and ${b.length} rounds`);
  return median(a.map((m, i) => of(m) / of(b[i]!)));
}
