import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { openDatabase } from '../../src/store/database.js';

it('a SQLite file removed or replaced under the open database makes its ping fail, so /readyz answers 503', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-readiness-'));
  try {
    for (const change of ['removed', 'replaced'] as const) {
      const path = join(dir, `${change}.db`);
      const database = openDatabase({ url: path });
      try {
        await database.ping();
        if (change === 'removed') unlinkSync(path);
        else {
          writeFileSync(`${path}.new`, '');
          renameSync(`${path}.new`, path);
        }
        await assert.rejects(database.ping(), /was removed or replaced/, change);
      } finally {
        await database.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
