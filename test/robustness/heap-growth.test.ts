import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { HEAP_GROWING_PERCENT } from '../../src/heap-growth.js';
import { BIN, spawnRoster } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'roster-heap-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The old generation's limits V8 set while `roster serve` started, as `--trace-gc-verbose` prints
 * them: `[HeapController] Limit: old size: 21357 KB, new limit: 48144 KB (1.5)`.
 */
async function limitsAtStart(nodeFlags: string[], name: string): Promise<string[]> {
  const server = spawnRoster(['serve'], {
    command: [process.execPath, '--trace-gc-verbose', ...nodeFlags, BIN],
    env: { DATABASE_URL: `sqlite:${join(dir, `${name}.db`)}`, PORT: '0', HOST: '127.0.0.1' },
  });
  try {
    await waitFor('roster listening, or its exit', async () => (server.out.stdout.includes('roster listening') || server.child.exitCode !== null ? true : undefined), 30_000);
  } finally {
    server.child.kill('SIGTERM');
  }
  const result = await server.done;
  assert.match(result.stdout, /roster listening/, result.stderr);
  return [...result.stdout.matchAll(/\[HeapController\] Limit: .*\((\d+(?:\.\d+)?)\)/g)].map((m) => m[1]!);
}

it('the server lets its heap grow by half past what a full collection keeps, unless told otherwise', async () => {
  const [bounded, told] = await Promise.all([limitsAtStart([], 'bounded'), limitsAtStart(['--heap-growing-percent=0'], 'told')]);
  const factor = String(1 + HEAP_GROWING_PERCENT / 100);
  // Starting collects the old generation at least once (loading the modules fills it).
  assert.ok(bounded.length > 0, 'no full collection while starting');
  assert.deepEqual(bounded, bounded.map(() => factor));
  // A factor given on the command line is left to V8: here 0, V8's own choice, 4 on this machine.
  assert.ok(told.length > 0);
  assert.ok(told.some((f) => f !== factor), `V8 chose ${told.join(', ')}`);
});
