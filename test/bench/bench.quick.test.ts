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
