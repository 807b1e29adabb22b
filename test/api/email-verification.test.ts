import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { describeEachBackend } from '../helpers/backends.js';
import { type ApiResponse, type Client, uniqueUser } from '../helpers/client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { type TestSmtp, deadSmtpUrl, startTestSmtp, tokenFrom } from '../helpers/smtp.js';

const PUBLIC_URL = 'https://roster.example.test';
const FROM = 'Roster Test <roster@example.test>';

/** A client that keeps every response text, for the leak scans. */
function recording(client: Client, into: string[]): Client {
  const wrap =
    (fn: Client['get']) =>
    async (...args: Parameters<Client['get']>): Promise<ApiResponse> => {
      const res = await fn(...args);
      into.push(res.text, JSON.stringify([...res.headers]));
      return res;
    };
  return { get: wrap(client.get), post: wrap(client.post), patch: wrap(client.patch), put: wrap(client.put), delete: wrap(client.delete) };
}

async function createUser(api: Client, extra: Record<string, unknown> = {}) {
  const res = await api.post('/v1/users', { body: { ...uniqueUser('ev'), ...extra } });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

const eventsOf = async (server: TestServer, id: string) => (await server.server.runtime.store.events.listForUser(id)).map((e) => ({ type: e.type, data: e.data }));

let smtp: TestSmtp;
before(async () => {
  smtp = await startTestSmtp();
});
after(() => smtp.stop());

await describeEachBackend('email verification over SMTP, EMAIL_CHANGE_VERIFICATION=required', (backend) => {
  let server: TestServer;
  let api: Client;
  const responses: string[] = [];
  const tokens: string[] = [];

  before(async () => {
    server = await startTestServer({ backend, config: { smtpUrl: smtp.url, emailFrom: FROM, publicUrl: PUBLIC_URL, emailChangeVerification: 'required' } });
    api = recording(server.client(await server.mintKey(['write'])), responses);
  });
  after(() => server.stop());

  /** Asks for a verification email and reads the token out of the mail that arrives. */
  async function mailedToken(userId: string, to: string): Promise<string> {
    const seen = new Set(smtp.mails.filter((m) => m.to.includes(to.toLowerCase()) || m.to.includes(to)));
    const res = await api.post(`/v1/users/${userId}/verification-email`);
    assert.equal(res.status, 202, res.text);
    const token = tokenFrom(await smtp.waitFor(to, (m) => !seen.has(m)));
    tokens.push(token);
    return token;
  }
  const confirm = (token: string) => api.post('/v1/email-verifications', { body: { token } });

  it('mails a one-time token (text and HTML, link under PUBLIC_URL, from EMAIL_FROM) that verifies the address', async () => {
    const user = await createUser(api);
    assert.equal(user.email_verified, false);
    const res = await api.post(`/v1/users/${user.id}/verification-email`);
    assert.equal(res.status, 202);
    assert.equal(res.text, '');
    const mail = await smtp.waitFor(user.email);
    assert.equal(mail.from, 'roster@example.test');
    assert.match(mail.raw, /^From: Roster Test <roster@example\.test>/m);
    assert.match(mail.subject, /verify/i);
    const token = tokenFrom(mail);
    tokens.push(token);
    assert.match(token, /^vt_[A-Za-z0-9_-]{43}$/, '256 random bits');
    assert.ok(mail.text.includes(`${PUBLIC_URL}/verify-email?token=${token}`));
    assert.ok(mail.html.includes(`href="${PUBLIC_URL}/verify-email?token=${token}"`), 'the HTML part carries the same link');
    // Stored only as its SHA-256.
    const rows = await server.server.runtime.database.db.selectFrom('email_verification_tokens').selectAll().where('user_id', '=', user.id).execute();
    assert.equal(rows.length, 1);
    assert.equal(rows[0].token_hash, createHash('sha256').update(token).digest('hex'));
    assert.ok(!JSON.stringify(rows).includes(token));
    assert.equal(Date.parse(rows[0].expires_at) - Date.parse(rows[0].created_at), 24 * 3600 * 1000);

    const ok = await confirm(token);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.id, user.id);
    assert.equal(ok.body.email_verified, true);
    assert.ok(ok.headers.get('etag'));
    assert.equal((await api.get(`/v1/users/${user.id}`)).body.email_verified, true);
    const verified = (await eventsOf(server, user.id)).filter((e) => e.type === 'user.email_verified');
    assert.equal(verified.length, 1);

    const again = await confirm(token);
    assert.equal(again.status, 400);
    assert.deepEqual(again.body, { error: 'validation_error', message: 'Invalid request parameters', details: { token: ['Token has already been used'] } });
  });

  it('refuses an unknown token, an expired one and a malformed body, each saying which', async () => {
    const unknown = await confirm('vt_this-token-was-never-issued-by-roster-at-all');
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body.details, { token: ['Unknown token'] });
    const user = await createUser(api);
    const token = 'vt_expired-token-made-by-the-test-0123456789abcdef';
    await server.server.runtime.store.emailVerificationTokens.insert({
      id: 'evk_test_expired_' + user.id.slice(4),
      tokenHash: createHash('sha256').update(token).digest('hex'),
      userId: user.id,
      email: user.email,
      purpose: 'verify',
      createdAt: '2020-01-01T00:00:00Z',
      expiresAt: '2020-01-02T00:00:00Z',
    });
    const expired = await confirm(token);
    assert.equal(expired.status, 400);
    assert.match(expired.body.details.token[0], /^Token has expired/);
    assert.equal((await api.get(`/v1/users/${user.id}`)).body.email_verified, false);
    const bad = await api.post('/v1/email-verifications', { body: { token: '', more: 1 } });
    assert.equal(bad.status, 400);
    assert.deepEqual(Object.keys(bad.body.details).sort(), ['more', 'token']);
    assert.equal((await api.post('/v1/users/usr_000000000000/verification-email')).status, 404);
  });

  it('limits sends to 3 a minute per user (429 with Retry-After), not per caller', async () => {
    const user = await createUser(api);
    for (let i = 0; i < 3; i++) assert.equal((await api.post(`/v1/users/${user.id}/verification-email`)).status, 202);
    const other = server.client(await server.mintKey(['write']));
    const limited = await other.post(`/v1/users/${user.id}/verification-email`);
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error, 'rate_limit_exceeded');
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    const someoneElse = await createUser(api);
    assert.equal((await api.post(`/v1/users/${someoneElse.id}/verification-email`)).status, 202);
    const deadline = Date.now() + 10_000;
    while (smtp.mails.filter((m) => m.to.includes(user.email.toLowerCase())).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.equal(smtp.mails.filter((m) => m.to.includes(user.email.toLowerCase())).length, 3, 'the refused send sent nothing');
  });

  it('keeps the address on an email-changing PATCH, shows pending_email, and commits it on confirmation', async () => {
    const user = await createUser(api);
    await confirm(await mailedToken(user.id, user.email));
    const next = uniqueUser('evnext').email;
    const patched = await api.patch(`/v1/users/${user.id}`, { body: { email: next, first_name: 'Jane' } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.email, user.email);
    assert.equal(patched.body.pending_email, next);
    assert.equal(patched.body.email_verified, true, 'the current address stays verified');
    assert.equal(patched.body.first_name, 'Jane', 'the other fields apply at once');
    assert.equal((await api.get(`/v1/users/${user.id}`)).body.pending_email, next);
    const mail = await smtp.waitFor(next);
    const token = tokenFrom(mail);
    tokens.push(token);
    assert.match(mail.subject, /new email/i);

    const done = await confirm(token);
    assert.equal(done.status, 200, done.text);
    assert.equal(done.body.email, next);
    assert.equal(done.body.email_verified, true);
    assert.equal('pending_email' in done.body, false);
    const notice = await smtp.waitFor(user.email, (m) => /changed/i.test(m.subject));
    assert.ok(notice.text.includes(next), 'the notice names the new address');
    const events = await eventsOf(server, user.id);
    const change = events.filter((e) => e.type === 'user.updated').at(-1)!;
    assert.deepEqual(change.data.previous_attributes, { email: user.email, pending_email: next }, 'email_verified stayed true, so it is not named');
    assert.equal(events.at(-1)!.type, 'user.email_verified');
    // The old address's token and the used change token are refused.
    assert.deepEqual((await confirm(token)).body.details, { token: ['Token has already been used'] });
  });

  it('refuses a token for an address the user no longer has', async () => {
    const user = await createUser(api);
    const old = await mailedToken(user.id, user.email);
    const next = uniqueUser('evgone').email;
    await api.patch(`/v1/users/${user.id}`, { body: { email: next } });
    const change = tokenFrom(await smtp.waitFor(next));
    tokens.push(change);
    assert.equal((await confirm(change)).status, 200);
    const stale = await confirm(old);
    assert.equal(stale.status, 400);
    assert.deepEqual(stale.body.details, { token: ['Token is for an address the user no longer has'] });
  });

  it('answers 409 on confirmation if someone took the address meanwhile, changing nothing', async () => {
    const user = await createUser(api);
    const wanted = uniqueUser('evrace').email;
    await api.patch(`/v1/users/${user.id}`, { body: { email: wanted } });
    const token = tokenFrom(await smtp.waitFor(wanted));
    tokens.push(token);
    await createUser(api, { email: wanted.toUpperCase() });
    const res = await confirm(token);
    assert.equal(res.status, 409);
    assert.deepEqual(res.body, { error: 'conflict', message: 'Email already taken' });
    const now = (await api.get(`/v1/users/${user.id}`)).body;
    assert.equal(now.email, user.email);
    assert.equal(now.pending_email, wanted);
  });

  it('answers 409 at once, and mails nothing, when the new address is already taken', async () => {
    const taken = await createUser(api);
    const user = await createUser(api);
    const before = smtp.mails.length;
    const res = await api.patch(`/v1/users/${user.id}`, { body: { email: taken.email.toUpperCase() } });
    assert.equal(res.status, 409);
    assert.deepEqual(res.body, { error: 'conflict', message: 'Email already taken' });
    assert.equal(smtp.mails.length, before);
  });

  it('mails nothing for a PATCH refused for another field: a taken username, a stale If-Match', async () => {
    const other = await createUser(api);
    const user = await createUser(api);
    const before = smtp.mails.length;
    const taken = await api.patch(`/v1/users/${user.id}`, { body: { email: uniqueUser('evnot').email, username: other.username } });
    assert.equal(taken.status, 409);
    assert.deepEqual(taken.body, { error: 'conflict', message: 'Username already taken' });
    const stale = await api.patch(`/v1/users/${user.id}`, { body: { email: uniqueUser('evnot').email }, headers: { 'if-match': '"v999"' } });
    assert.equal(stale.status, 412);
    // A token is mailed, and the SMTP server has it, before the PATCH answers: none came.
    assert.equal(smtp.mails.length, before);
    const unchanged = (await api.get(`/v1/users/${user.id}`)).body;
    assert.equal(unchanged.email, user.email);
    assert.equal('pending_email' in unchanged, false);
  });

  it('lets a later PATCH replace or cancel a pending change, refusing the superseded token', async () => {
    const user = await createUser(api);
    const first = uniqueUser('evfirst').email;
    const second = uniqueUser('evsecond').email;
    await api.patch(`/v1/users/${user.id}`, { body: { email: first } });
    const firstToken = tokenFrom(await smtp.waitFor(first));
    tokens.push(firstToken);
    const replaced = await api.patch(`/v1/users/${user.id}`, { body: { email: second } });
    assert.equal(replaced.body.pending_email, second);
    assert.deepEqual((await confirm(firstToken)).body.details, { token: ['Token is for an address the user no longer has'] });
    // POST …/verification-email now mails the pending address.
    const resent = await mailedToken(user.id, second);
    const cancelled = await api.patch(`/v1/users/${user.id}`, { body: { email: user.email } });
    assert.equal(cancelled.status, 200);
    assert.equal('pending_email' in cancelled.body, false);
    assert.deepEqual((await confirm(resent)).body.details, { token: ['Token is for an address the user no longer has'] });
    // A change of letter case is the same mailbox: it applies at once.
    const upper = await api.patch(`/v1/users/${user.id}`, { body: { email: user.email.toUpperCase() } });
    assert.equal(upper.body.email, user.email.toUpperCase());
    assert.equal('pending_email' in upper.body, false);
  });

  it("forgets a deleted user's tokens", async () => {
    const user = await createUser(api);
    const token = await mailedToken(user.id, user.email);
    assert.equal((await api.delete(`/v1/users/${user.id}`)).status, 204);
    assert.deepEqual((await confirm(token)).body.details, { token: ['Unknown token'] });
  });

  it('never puts a token in a response, a log line or an event', async () => {
    assert.ok(tokens.length >= 8);
    const logs = server.logs.map((l) => JSON.stringify(l));
    const events = (await server.server.runtime.database.db.selectFrom('events').selectAll().execute()).map((r) => JSON.stringify(r));
    for (const token of tokens) {
      for (const [where, texts] of [['response', responses], ['log', logs], ['event', events]] as const) {
        assert.ok(!texts.some((t) => t.includes(token)), `a ${where} contains a token`);
      }
    }
    assert.ok(!logs.some((l) => l.includes('vt_')), 'no token-like value in the logs');
  });
});

describe('email verification with a slow SMTP server', () => {
  let slow: TestSmtp;
  let release: () => void = () => {};
  let server: TestServer;
  let api: Client;
  before(async () => {
    slow = await startTestSmtp({ beforeAccept: () => new Promise<void>((resolve) => (release = resolve)) });
    server = await startTestServer({ config: { smtpUrl: slow.url } });
    api = server.client(await server.mintKey(['write']));
  });
  after(async () => {
    release();
    await server.stop();
    await slow.stop();
  });

  it('keeps no token (nor the address it is bound to) of a user deleted while its email was being sent', async () => {
    const user = await createUser(api);
    const sending = api.post(`/v1/users/${user.id}/verification-email`);
    await slow.waitFor(user.email);
    assert.equal((await api.delete(`/v1/users/${user.id}`)).status, 204);
    release();
    const res = await sending;
    assert.equal(res.status, 404, res.text);
    assert.equal(res.body.message, 'User not found');
    assert.deepEqual(await server.server.runtime.store.emailVerificationTokens.listForUser(user.id), []);
  });
});

describe('email verification with the SMTP server down', () => {
  let server: TestServer;
  let api: Client;
  before(async () => {
    server = await startTestServer({ config: { smtpUrl: await deadSmtpUrl(), emailChangeVerification: 'required' } });
    api = server.client(await server.mintKey(['write']));
  });
  after(() => server.stop());

  it('answers 503 with Retry-After and leaves no token behind', async () => {
    const user = await createUser(api);
    const res = await api.post(`/v1/users/${user.id}/verification-email`);
    assert.equal(res.status, 503);
    assert.equal(res.body.error, 'service_unavailable');
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    assert.deepEqual(await server.server.runtime.store.emailVerificationTokens.listForUser(user.id), []);
    const warning = server.logs.find((l) => l.msg === 'sending email failed');
    assert.ok(warning, 'the failure is logged');
    assert.match(JSON.stringify(warning), /ECONNREFUSED|ESOCKET|ETIMEDOUT|ECONNECTION/);
    assert.ok(!server.logs.some((l) => JSON.stringify(l).includes(user.email)), 'without the recipient address');
  });

  it('does not count emails the SMTP server did not take against the 3-a-minute budget', async () => {
    const user = await createUser(api);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await api.post(`/v1/users/${user.id}/verification-email`)).status);
    assert.deepEqual(statuses, [503, 503, 503, 503, 503], 'each retry the 503 invites is tried, not refused with a 429');
  });

  it('answers 503 to an email-changing PATCH and changes nothing', async () => {
    const user = await createUser(api);
    const before = await eventsOf(server, user.id);
    const res = await api.patch(`/v1/users/${user.id}`, { body: { email: uniqueUser('evdown').email, first_name: 'Jane' } });
    assert.equal(res.status, 503);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    assert.deepEqual((await api.get(`/v1/users/${user.id}`)).body, user);
    assert.deepEqual(await eventsOf(server, user.id), before);
    assert.deepEqual(await server.server.runtime.store.emailVerificationTokens.listForUser(user.id), []);
  });
});

describe('email verification without SMTP_URL (log mode), EMAIL_CHANGE_VERIFICATION=optional', () => {
  let server: TestServer;
  let api: Client;
  before(async () => {
    server = await startTestServer({ config: { publicUrl: PUBLIC_URL } });
    api = server.client(await server.mintKey(['write']));
  });
  after(() => server.stop());

  it('writes the message to the log, under `email` only, and its token verifies', async () => {
    const user = await createUser(api);
    assert.equal((await api.post(`/v1/users/${user.id}/verification-email`)).status, 202);
    const line = server.logs.find((l) => (l.email as { to?: string } | undefined)?.to === user.email);
    assert.ok(line, 'the message is in the log');
    const text = (line.email as { text: string }).text;
    const token = /token=([A-Za-z0-9_-]+)/.exec(text)![1];
    assert.ok(text.includes(`${PUBLIC_URL}/verify-email?token=${token}`));
    const withToken = server.logs.filter((l) => JSON.stringify(l).includes(token));
    assert.equal(withToken.length, 1, 'the token appears in that one line');
    assert.ok(!JSON.stringify({ ...withToken[0], email: undefined }).includes(token), 'and only in its `email` field');
    const res = await api.post('/v1/email-verifications', { body: { token } });
    assert.equal(res.status, 200);
    assert.equal(res.body.email_verified, true);
    // Another letter case is the same mailbox, still verified; another address is not.
    const upper = await api.patch(`/v1/users/${user.id}`, { body: { email: user.email.toUpperCase() } });
    assert.deepEqual([upper.body.email, upper.body.email_verified], [user.email.toUpperCase(), true]);
    const other = await api.patch(`/v1/users/${user.id}`, { body: { email: uniqueUser('evcase').email } });
    assert.equal(other.body.email_verified, false);
  });

  it('applies an email change at once (no pending_email), unverified, and refuses the old address token', async () => {
    const user = await createUser(api);
    await api.post(`/v1/users/${user.id}/verification-email`);
    const line = server.logs.find((l) => (l.email as { to?: string } | undefined)?.to === user.email)!;
    const token = /token=([A-Za-z0-9_-]+)/.exec((line.email as { text: string }).text)![1];
    const next = uniqueUser('evopt').email;
    const res = await api.patch(`/v1/users/${user.id}`, { body: { email: next } });
    assert.equal(res.body.email, next);
    assert.equal(res.body.email_verified, false);
    assert.equal('pending_email' in res.body, false);
    const stale = await api.post('/v1/email-verifications', { body: { token } });
    assert.deepEqual(stale.body.details, { token: ['Token is for an address the user no longer has'] });
  });
});
