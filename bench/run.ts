/**
 * `npm run bench [-- --quick | --scale] [--profile]`: the real service against a framework-free
 * reference server, same machine, same run, rounds alternating. See BENCHMARKS.md.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_RATE_LIMIT, mintKey, registerOAuthClient } from './credentials.js';
import { type LoadOptions, type Measure, type Scenario, combine, measure, pairedRatio } from './load.js';
import { type Target, startReference, startService } from './processes.js';
import { type Check, type Row, checks, machine, mib, table } from './report.js';
import { oauthScenario, userScenarios } from './scenarios.js';
import { seedUsers } from './seed.js';
import { createDatabase } from './databases.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    scale: { type: 'boolean' },
    profile: { type: 'boolean' },
    users: { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    out: { type: 'string' },
    only: { type: 'string' },
  },
});

const mode = args.quick
  ? { name: 'quick', users: 1_000, seconds: 1, rounds: 1, warmup: 0.5 }
  : args.scale
    ? { name: 'scale', users: 1_000_000, seconds: 3, rounds: 5, warmup: 3 }
    : { name: 'standard', users: 10_000, seconds: 3, rounds: 5, warmup: 3 };
const users = Number(args.users ?? mode.users);
const load: LoadOptions = { seconds: Number(args.seconds ?? mode.seconds), connections: 10 };
const rounds = Number(args.rounds ?? mode.rounds);
const BASELINE_USERS = 10_000;

const work = mkdtempSync(join(tmpdir(), 'roster-bench-'));
const resultsDir = join(import.meta.dirname, 'results');
mkdirSync(resultsDir, { recursive: true });
const targets: Target[] = [];
const cleanups: (() => Promise<void>)[] = [];
const log = (line: string) => process.stderr.write(`${line}\n`);

async function seeded(name: string, count: number): Promise<{ url: string; lastSeq: number }> {
  const db = await createDatabase(process.env.BENCH_DATABASE_URL, work, name);
  cleanups.push(db.drop);
  const { lastSeq, seconds } = await seedUsers(db.url, count);
  log(`seeded ${count.toLocaleString('en')} users into ${name} in ${seconds.toFixed(1)} s`);
  return { url: db.url, lastSeq };
}

function serviceEnv(databaseUrl: string, workers: number): Record<string, string> {
  // The default limit applies to OAuth clients and to token requests: raised like the API key's,
  // so the bench measures the service rather than its 429s.
  const env: Record<string, string> = { DATABASE_URL: databaseUrl, WORKERS: String(workers), RATE_LIMIT_PER_MINUTE: String(BENCH_RATE_LIMIT) };
  if (process.env.BENCH_REDIS_URL) Object.assign(env, { REDIS_URL: process.env.BENCH_REDIS_URL, REDIS_PREFIX: `roster-bench-${process.pid}-${Date.now()}:` });
  return env;
}

async function service(name: string, databaseUrl: string, workers: number): Promise<Target> {
  const t = await startService({ name, env: serviceEnv(databaseUrl, workers), logDir: work, cpuProfDir: args.profile ? join(resultsDir, 'profiles') : undefined });
  targets.push(t);
  return t;
}

async function main(): Promise<void> {
  const started = performance.now();
  // Read before the run loads the machine: the load average then says what else was running.
  const atStart = machine();
  log(`roster bench (${mode.name}): ${users.toLocaleString('en')} users, ${rounds} round(s) of ${load.seconds} s per scenario and server`);
  const main = await seeded('main', users);
  const key = `Bearer ${await mintKey(main.url)}`;
  const onSqlite = !process.env.BENCH_DATABASE_URL;
  // On SQLite every server gets its own copy of the seeded file (key included): servers sharing
  // one file would share its WAL, and each would pay for checkpointing the others' writes.
  const copyOf = (name: string) => {
    const url = join(work, `${name}.db`);
    copyFileSync(main.url, url);
    return url;
  };
  // The reference server speaks SQLite only: on PostgreSQL it gets its own file, seeded alike.
  const refDbUrl = onSqlite ? copyOf('reference') : await (async () => {
    const db = await createDatabase(undefined, work, 'reference');
    await seedUsers(db.url, users);
    return db.url;
  })();
  const refKey = onSqlite ? key : `Bearer ${await mintKey(refDbUrl)}`;
  // The 2-worker service is left out of the quick run (its own test covers it) and the scale run.
  const withTwoWorkers = !(args.scale || args.quick);
  const twoDbUrl = withTwoWorkers && onSqlite ? copyOf('two-workers') : main.url;

  // Started side by side: on a busy machine each start takes seconds.
  const [one, reference, two] = await Promise.all([
    service('roster', main.url, 1),
    startReference(refDbUrl, work).then((t) => (targets.push(t), t)),
    withTwoWorkers ? service('roster ×2 workers', twoDbUrl, 2) : undefined,
  ]);
  // The scale run measures PATCH among BASELINE_USERS too, on both servers: the service's target
  // compares it with its own, and the reference's shows what the stack alone loses with size.
  let small: Target | undefined;
  let smallRef: Target | undefined;
  let smallLastSeq = 0;
  if (args.scale) {
    const base = await seeded('baseline', BASELINE_USERS);
    smallLastSeq = base.lastSeq;
    const baseKey = `Bearer ${await mintKey(base.url)}`;
    const at = `@ ${BASELINE_USERS.toLocaleString('en')} users`;
    small = Object.assign(await service(`roster ${at}`, base.url, 1), { key: baseKey });
    // The reference speaks SQLite only: on PostgreSQL the baseline is the service's alone.
    if (onSqlite) {
      const file = join(work, 'baseline-reference.db');
      copyFileSync(base.url, file);
      smallRef = Object.assign(await startReference(file, work, `reference ${at}`), { key: baseKey });
      targets.push(smallRef);
    }
  }
  const smallScenarios = small ? userScenarios(BASELINE_USERS, smallLastSeq) : undefined;
  const isSmall = (t: Target) => t === small || t === smallRef;
  // The baseline servers serve, beside their million-user twins, every scenario that leaves the
  // number of users as it is: the million-user service's PATCH costs more once it has served
  // other calls (see BENCHMARKS.md), and the scale target compares sizes, so both get the same
  // history. POST (and so its new users) stays on the large servers.
  const mirrored = (s: Scenario) => (small ? smallScenarios?.find((x) => x.id === s.id && x.id !== 'create') : undefined);
  const smallOf = (s: Scenario): Target[] => (mirrored(s) ? [small, smallRef].filter((t): t is Target => t !== undefined) : []);
  const authOf = (t: Target) => (t === reference ? refKey : ((t as Target & { key?: string }).key ?? key));

  const wanted = args.only?.split(',');
  const scenarios = userScenarios(users, main.lastSeq).filter((s) => !wanted || wanted.includes(s.id));
  if (!wanted || wanted.includes('oauth')) {
    const client = await registerOAuthClient(main.url);
    scenarios.push(oauthScenario(users, client.id, client.secret));
  }

  // Warm-up: JIT compilation, caches, SQLite pages; not recorded.
  for (const t of targets) {
    for (const s of ((isSmall(t) && smallScenarios) || scenarios).slice(0, args.quick ? 1 : 2)) await measure(t, s, authOf(t), { ...load, seconds: Math.min(mode.warmup, load.seconds) });
  }

  const results = new Map<string, Measure[]>();
  const record = (s: Scenario, t: Target, m: Measure) => {
    const k = `${s.id}\u0000${t.name}`;
    results.set(k, [...(results.get(k) ?? []), m]);
  };
  // Each pair that a check compares is measured side by side, seconds apart, and its ratio
  // taken round by round (see pairedRatio): the service beside the reference, and in a scale
  // run beside itself among fewer users; the service's first list page beside its deep one.
  const listFirst = scenarios.find((s) => s.id === 'list-first');
  const listDeep = scenarios.find((s) => s.id === 'list-deep');
  const roundSteps = (round: number): [Scenario, Target][] => {
    const steps: [Scenario, Target][] = [];
    for (const s of scenarios) {
      if (s === listDeep && listFirst) continue;
      if (s === listFirst && listDeep) {
        steps.push([listFirst, one], [listDeep, one], [listDeep, reference], [listFirst, reference]);
        for (const t of smallOf(s)) steps.push([listFirst, t], [listDeep, t]);
        continue;
      }
      const [smallOne, smallReference] = smallOf(s);
      const lineup: Target[] = [];
      if (smallOne) lineup.push(smallOne);
      lineup.push(one);
      if (s.reference) lineup.push(reference);
      if (smallReference) lineup.push(smallReference);
      if (two && (s.id === 'patch' || s.id === 'get')) lineup.push(two);
      for (const t of lineup) steps.push([s, t]);
    }
    // The order flips every round, so that neither of a pair always meets the warmer (or noisier) moment.
    return round % 2 === 1 ? steps.reverse() : steps;
  };
  for (let round = 0; round < rounds; round++) {
    for (const [s, t] of roundSteps(round)) {
      // File writes still pending (the copies of a seeded database, 320 MiB at a million users;
      // a write-ahead log) are flushed first: else the kernel writes them back, on the same two
      // cores, during whichever measure comes some 30 s later.
      settle();
      // The baseline database holds fewer users: its calls pick among those.
      const m = await measure(t, isSmall(t) ? (mirrored(s) ?? s) : s, authOf(t), load);
      record(s, t, m);
      log(`round ${round + 1} ${s.id.padEnd(10)} ${t.name.padEnd(22)} ${m.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${m.p50} ms  p99 ${m.p99} ms  errors ${m.errors}`);
    }
  }

  const rows: Row[] = [];
  const get = (s: string, t: Target | undefined) => (t ? results.get(`${s}\u0000${t.name}`) : undefined);
  for (const s of scenarios) {
    for (const t of [one, two, small, reference, smallRef]) {
      const ms = get(s.id, t);
      if (!ms || !t) continue;
      // The baseline service against the reference among as many users.
      const ref = t === reference || t === smallRef ? undefined : get(s.id, t === small && smallRef ? smallRef : reference);
      rows.push({
        scenario: s.title,
        server: t.name,
        measure: combine(ms),
        ratio: ref && pairedRatio(ms, ref, rps),
        cpuRatio: ref && ms.every((m) => m.cpuPerRequest > 0) ? pairedRatio(ref, ms, cpu) : undefined,
      });
    }
  }
  const markdown = render(rows, scenarios, { one, two, small, smallRef, reference, get }, atStart, (performance.now() - started) / 1000);
  const out = args.out ?? join(resultsDir, mode.name === 'standard' ? 'latest.md' : `latest-${mode.name}.md`);
  writeFileSync(out, markdown);
  process.stdout.write(`${markdown}\nwritten to ${out}\n`);
}

/** Waits for the file systems to write back what is pending (sync(1)). */
function settle(): void {
  execFileSync('sync');
}

type Lookup = { one: Target; two?: Target; small?: Target; smallRef?: Target; reference: Target; get(s: string, t: Target | undefined): Measure[] | undefined };

const rps = (m: Measure) => m.requestsPerSecond;
const cpu = (m: Measure) => m.cpuPerRequest;

function render(rows: Row[], scenarios: Scenario[], l: Lookup, atStart: string, seconds: number): string {
  const list: Check[] = [];
  /** `a` against `b`, the two measured side by side each round, by throughput and by CPU per request. */
  const compare = (what: string, s: string, a: Target | undefined, b: Target | undefined, wanted: number, target: string) => {
    const am = l.get(s, a);
    const bm = l.get(s, b);
    if (!am || !bm) return;
    const r = pairedRatio(am, bm, rps);
    list.push({ what, target, got: `${r.toFixed(2)}×`, met: r >= wanted });
    // CPU time is read from /proc: where it could not be, there is no ratio to give.
    if (!am.every((m) => m.cpuPerRequest > 0)) return;
    const c = pairedRatio(bm, am, cpu);
    list.push({ what: `${what}, by CPU per request`, target, got: `${c.toFixed(2)}×`, met: c >= wanted });
  };
  compare('PATCH throughput', 'patch', l.one, l.reference, 0.6, '≥ 0.6× reference');
  compare('GET throughput', 'get', l.one, l.reference, 0.7, '≥ 0.7× reference');
  const first = l.get('list-first', l.one);
  const deep = l.get('list-deep', l.one);
  // Mean latency: autocannon's percentiles are whole milliseconds, too coarse for a ratio of 1.2.
  if (first && deep) {
    const r = pairedRatio(deep, first, (m) => m.mean);
    const ms = (x: Measure[]) => combine(x).mean.toFixed(2);
    list.push({ what: 'deep list page mean latency', target: '≤ 1.2× first page', got: `${r.toFixed(2)}× (${ms(deep)} / ${ms(first)} ms)`, met: r <= 1.2 });
  }
  const peak = Math.max(...rows.filter((r) => r.server === l.one.name).map((r) => r.measure.peakRss));
  list.push({ what: 'peak RSS under load (1 worker)', target: '≤ 200 MiB', got: `${mib(peak)} MiB`, met: peak <= 200 * 1024 * 1024 });
  const many = `with ${users.toLocaleString('en')} users`;
  const base = `≥ 0.9× with ${BASELINE_USERS.toLocaleString('en')}`;
  compare(`PATCH ${many}`, 'patch', l.one, l.small, 0.9, base);
  const refBig = l.get('patch', l.reference);
  const refBase = l.get('patch', l.smallRef);
  if (refBig && refBase) {
    const r = pairedRatio(refBig, refBase, rps);
    list.push({ what: `reference PATCH ${many}`, target: `${base} (informative: the stack alone)`, got: `${r.toFixed(2)}×`, met: r >= 0.9 });
  }
  for (const s of ['patch', 'get']) {
    const a = l.get(s, l.one);
    const b = l.get(s, l.two);
    if (!a || !b) continue;
    const r = pairedRatio(b, a, rps);
    list.push({ what: `${s.toUpperCase()} with 2 workers`, target: 'more than 1 worker (informative)', got: `${r.toFixed(2)}×`, met: r > 1 });
  }
  return [
    `# Roster benchmark (${mode.name})`,
    '',
    atStart,
    `- users seeded: ${users.toLocaleString('en')}; ${rounds} round(s) of ${load.seconds} s per scenario and server, ${load.connections} connections, rounds alternating, ratios paired round by round; whole run ${seconds.toFixed(0)} s`,
    `- database: ${process.env.BENCH_DATABASE_URL ? 'PostgreSQL' : 'SQLite'} (reference server: SQLite)${process.env.BENCH_REDIS_URL ? '; rate limits in Redis' : ''}; API key rate limit ${BENCH_RATE_LIMIT.toLocaleString('en')}/min`,
    `- scenarios: ${scenarios.map((s) => s.id).join(', ')}`,
    '',
    table(rows),
    '',
    checks(list),
    '',
  ].join('\n');
}

let cleaning: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const t of targets.reverse()) await t.stop().catch(() => {});
    for (const c of cleanups) await c().catch(() => {});
    rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
}

// Interrupted, the servers it started and its databases go with it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping the servers`);
    cleanUp().finally(() => process.exit(130));
  });
}

try {
  await main();
} finally {
  await cleanUp();
}
