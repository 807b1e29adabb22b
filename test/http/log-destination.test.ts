import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Runs a process that logs through asyncStdout (the built one: `npm test` builds first), and
 * collects its stdout with the time each line arrived.
 */
function logFrom(script: string): Promise<{ lines: { text: string; at: number }[]; exitedAt: number }> {
  const started = Date.now();
  const program = `import { asyncStdout } from ${JSON.stringify(join(ROOT, 'dist/http/log-destination.js'))};\n${script}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: { text: string; at: number }[] = [];
  let partial = '';
  // Decoded as a stream: a block may end in the middle of a character.
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const text of parts) lines.push({ text, at: Date.now() - started });
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`the logging process exited with ${code}`));
      // Reported as the test's failure: an assertion thrown in this callback would escape it.
      if (partial !== '') return reject(new Error(`a line was cut short: ${partial}`));
      resolve({ lines, exitedAt: Date.now() - started });
    });
  });
}

for (const shared of [false, true]) {
  describe(`asyncStdout, ${shared ? 'as a cluster worker (blocks of at most 4 KiB)' : 'in a process of its own (larger blocks)'}`, () => {
    it('writes every line, whole and in order, by the time the process exits', async () => {
      // About 300 KiB: many blocks of either size, and a tail still queued at the exit.
      const { lines } = await logFrom(`
        const log = asyncStdout(${shared});
        for (let i = 0; i < 3000; i++) log.write(JSON.stringify({ i, text: 'é'.repeat(i % 97) + 'x'.repeat(40) }) + '\\n');
      `);
      assert.equal(lines.length, 3000);
      lines.forEach(({ text }, i) => assert.deepEqual(JSON.parse(text), { i, text: 'é'.repeat(i % 97) + 'x'.repeat(40) }));
    });

    it('writes a lone line within about a second, without waiting for a block to fill', async () => {
      const { lines, exitedAt } = await logFrom(`
        const log = asyncStdout(${shared});
        log.write('{"msg":"alone"}\\n');
        setTimeout(() => {}, 4000);
      `);
      assert.deepEqual(
        lines.map((l) => l.text),
        ['{"msg":"alone"}'],
      );
      assert.ok(lines[0].at < exitedAt - 1500, `the line arrived at ${lines[0].at} ms, the process exited at ${exitedAt} ms`);
    });
  });
}
