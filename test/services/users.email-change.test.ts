import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Runtime, openRuntime } from '../../src/compose.js';
import { configWith } from '../../src/config.js';
import { uniqueUser } from '../helpers/client.js';

const ctx = { actor: { kind: 'system' as const, id: 'test' }, requestId: 'req_test' };

describe('an email-changing PATCH with EMAIL_CHANGE_VERIFICATION=required', () => {
  let dir: string;
  let runtime: Runtime;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'roster-email-change-'));
    runtime = await openRuntime(configWith({ databaseUrl: join(dir, 'roster.db'), emailChangeVerification: 'required' }));
  });
  after(async () => {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is run again from its check when the email changed after it: its address becomes pending, not dropped', async () => {
    const user = await runtime.services.users.create(uniqueUser('race'), ctx);
    const confirmed = `confirmed-${user.username}@example.com`;
    let confirmation: Promise<unknown> | undefined;
    // The PATCH's first check sees the email it sends as the user's own (nothing to verify); a
    // confirmation of another address commits right after that check, before the PATCH's write.
    const updated = await runtime.services.users.update(user.id, { email: user.email, first_name: 'Racing' }, ctx, {
      precondition: (seen) => {
        confirmation ??= runtime.store.transaction((tx) => tx.users.update(user.id, seen.version, { email: confirmed, email_verified: true }, '2026-01-01T00:00:00Z'));
        return true;
      },
    });
    assert.ok(await confirmation);
    assert.equal(updated.email, confirmed, 'the confirmed address stays until the PATCH is confirmed in turn');
    assert.equal(updated.pending_email, user.email, 'the address the PATCH sent waits for its verification');
    assert.equal(updated.first_name, 'Racing');
    const tokens = await runtime.database.db.selectFrom('email_verification_tokens').select(['email_key', 'purpose']).where('user_id', '=', user.id).execute();
    assert.deepEqual(tokens, [{ email_key: user.email.toLowerCase(), purpose: 'change' }]);
  });
});
