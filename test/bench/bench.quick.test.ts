import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';

// `npm run bench -- --quick` end to end: it must keep working, whatever the numbers (speed is
// never asserted here, the machine is shared). npm test has built the service it starts.
const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'roster-bench-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

it('npm run bench -- --quick measures every scenario on the service and the reference, without errors', async () => {
  const out = join(dir, 'quick.md');
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--out', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, stderr);

  const table = readFileSync(out, 'utf8');
  assert.ok(stdout.includes(table.trim()), 'the table is printed as well as written');
  assert.match(table, /- cores: \d+ × /);
  assert.match(table, /- Node\.js: v\d+/);
  // The machine is described as it was when the run started (its load average above all), not
  // once the run had loaded it: the date printed falls in the first half of the run.
  const endedAt = Date.now();
  const printed = Date.parse(/- date: (\S+)/.exec(table)?.[1] ?? '');
  assert.ok(printed >= spawnedAt - 1000 && printed < spawnedAt + (endedAt - spawnedAt) / 2, `date ${new Date(printed).toISOString()}, run ${new Date(spawnedAt).toISOString()} to ${new Date(endedAt).toISOString()}`);
  const rows = table
    .split('\n')
    .filter((l) => /^\| (PATCH|GET|POST) /.test(l))
    .map((l) => l.split('|').map((c) => c.trim()));
  // | scenario | server | req/s | p50 | p99 | errors | peak RSS | ratio | CPU ms/req | CPU ratio |
  for (const [scenario, servers] of [
    ['PATCH /v1/users/{id}', ['roster', 'reference']],
    ['GET /v1/users/{id}', ['roster', 'reference']],
    ['GET /v1/users?limit=20 (the first page', ['roster', 'reference']],
    ['GET /v1/users?limit=20&cursor=', ['roster', 'reference']],
    ['POST /v1/users', ['roster', 'reference']],
  ] as const) {
    for (const server of servers) {
      const row = rows.find((r) => r[1].startsWith(scenario) && r[2] === server);
      assert.ok(row, `a row for ${scenario} on ${server}`);
      assert.ok(Number(row[3]) > 0, `${scenario} on ${server} served requests`);
      assert.equal(row[6], '0', `${scenario} on ${server}: no errors`);
      assert.ok(Number(row[7]) > 0, `${scenario} on ${server}: memory sampled`);
      if (server === 'roster') assert.match(row[8], /^\d+\.\d\d×$/, 'a ratio to the reference');
      assert.ok(Number(row[9]) > 0, `${scenario} on ${server}: CPU time per request measured`);
    }
  }
  if (/oauth scenario skipped/.test(stderr)) return;
  const oauth = rows.find((r) => r[1].startsWith('POST /oauth/token'));
  assert.ok(oauth && oauth[6] === '0', 'the OAuth scenario, when present, ran without errors');
});

it('the scale run measures PATCH among the 10,000-user baseline on the service and on the reference, and compares both', async () => {
  const out = join(dir, 'scale.md');
  // A small "large" table and one short round: the shape of the run, not its numbers.
  const args = ['--import', 'tsx', 'bench/run.ts', '--scale', '--users', '2000', '--seconds', '1', '--rounds', '1', '--only', 'patch,get,create', '--out', out];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, stderr);

  const table = readFileSync(out, 'utf8');
  const rows = table
    .split('\n')
    .filter((l) => l.startsWith('| PATCH /v1/users/'))
    .map((l) => l.split('|').map((c) => c.trim()));
  assert.deepEqual(rows.map((r) => r[2]).sort(), ['reference', 'reference @ 10,000 users', 'roster', 'roster @ 10,000 users']);
  for (const r of rows) {
    assert.ok(Number(r[3]) > 0, `${r[2]} served nothing`);
    assert.equal(r[6], '0', `${r[2]} answered with errors`);
  }
  // Each service row is compared with the reference among as many users.
  const [roster, baseline, ref, refBaseline] = ['roster', 'roster @ 10,000 users', 'reference', 'reference @ 10,000 users'].map((n) => rows.find((r) => r[2] === n)!);
  // (from the printed, rounded throughputs: within a hundredth)
  const near = (ratio: string, a: string, b: string) => Math.abs(Number(ratio.replace('×', '')) - Number(a) / Number(b)) <= 0.011;
  assert.ok(near(roster![8]!, roster![3]!, ref![3]!), roster!.join(' | '));
  assert.ok(near(baseline![8]!, baseline![3]!, refBaseline![3]!), baseline!.join(' | '));
  // The baselines serve what leaves their number of users as it is, beside their twins: not POST.
  const serversOf = (prefix: string) =>
    table
      .split('\n')
      .filter((l) => l.startsWith(prefix))
      .map((l) => l.split('|')[2]!.trim())
      .sort();
  assert.deepEqual(serversOf('| GET /v1/users/{id}'), ['reference', 'reference @ 10,000 users', 'roster', 'roster @ 10,000 users']);
  assert.deepEqual(serversOf('| POST /v1/users'), ['reference', 'roster']);
  assert.match(table, /\| PATCH with 2,000 users \| ≥ 0\.9× with 10,000 \| \d\.\d\d× \| (yes|no) \|/);
  assert.match(table, /\| reference PATCH with 2,000 users \| ≥ 0\.9× with 10,000 \(informative: the stack alone\) \| \d\.\d\d× \| (yes|no) \|/);
});
