import { nowIso, toIso } from '../adapters/clock.js';
import { randomId, randomSecret } from '../adapters/ids.js';
import type { Limiter } from '../adapters/limiter.js';
import { MailUnavailableError, type Mailer, type OutgoingMail } from '../adapters/mailer.js';
import { hashSecret } from '../adapters/secrets.js';
import type { Config } from '../config.js';
import { AppError, EMAIL_TAKEN, userNotFound, validationError } from '../errors.js';
import type { Repositories, Store } from '../store/index.js';
import type { StoredUser, UserChanges } from '../store/users.js';
import type { RequestContext } from './auth.js';
import { emailChangedMail, verificationLink, verificationMail } from './email-messages.js';
import { publicUser, recordEvent } from './events.js';

export const TOKEN_TTL_SECONDS = 24 * 60 * 60;
/** Verification emails per user per minute (the endpoint and email-changing PATCHes together). */
export const SENDS_PER_MINUTE = 3;
const RETRY_AFTER_SMTP_SECONDS = 30;

interface Deps {
  store: Store;
  config: Config;
  limiter: Limiter;
  mailer: Mailer;
  onError: (err: unknown, what: string) => void;
}

/** A change of address whose token was mailed; the PATCH's transaction records it. */
export interface PendingEmailChange {
  email: string;
  tokenHash: string;
}

const sameMailbox = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** The refusals of a token, each saying which (API.md §6). */
const refuse = (why: string) => validationError({ token: [why] });

export function createEmailVerificationService({ store, config, limiter, mailer, onError }: Deps) {
  const sendKey = (userId: string) => `verification-email:${userId}`;

  async function spendSendBudget(userId: string): Promise<void> {
    const budget = await limiter.consume(sendKey(userId), SENDS_PER_MINUTE, 60);
    if (budget.allowed) return;
    // resetAt is rounded up to a whole second, so the difference may exceed the window by one.
    const retryAfter = Math.min(60, Math.max(1, budget.resetAt - Math.floor(Date.now() / 1000)));
    throw new AppError('rate_limit_exceeded', `At most ${SENDS_PER_MINUTE} verification emails per user per minute`, undefined, { 'retry-after': String(retryAfter) });
  }

  async function send(mail: OutgoingMail): Promise<void> {
    try {
      await mailer.send(mail);
    } catch (err) {
      if (!(err instanceof MailUnavailableError)) throw err;
      onError(err, 'sending email');
      throw new AppError('service_unavailable', 'The email could not be sent; try again later', undefined, { 'retry-after': String(RETRY_AFTER_SMTP_SECONDS) });
    }
  }

  /**
   * Mails a fresh token for `email` and returns its hash. Sent before anything is stored: if
   * the SMTP server is down nothing exists afterwards, and the token is stored only after.
   */
  async function mailToken(userId: string, email: string, purpose: 'verify' | 'change'): Promise<string> {
    await spendSendBudget(userId);
    // 256 bits from the CSPRNG; only its SHA-256 is kept.
    const token = `vt_${randomSecret(32)}`;
    try {
      await send(verificationMail(email, verificationLink(config.publicUrl, token), purpose));
    } catch (err) {
      // The budget counts emails sent: one the SMTP server refused gives its unit back, so the
      // retry its 503 invites is not then refused with a 429.
      await limiter.refund(sendKey(userId), SENDS_PER_MINUTE, 60);
      throw err;
    }
    return hashSecret(token);
  }

  function tokenRow(tokenHash: string, userId: string, email: string, purpose: 'verify' | 'change') {
    const now = Date.now();
    return { id: randomId('evk_', 16), tokenHash, userId, email, purpose, createdAt: toIso(now), expiresAt: toIso(now + TOKEN_TTL_SECONDS * 1000) };
  }

  return {
    /**
     * `POST /v1/users/{id}/verification-email`: mails a one-time token for the user's address,
     * or for its pending new address when a change awaits confirmation.
     */
    async sendVerification(userId: string): Promise<void> {
      const user = await store.users.findById(userId);
      if (!user) throw userNotFound();
      const purpose = user.pending_email ? 'change' : 'verify';
      const email = user.pending_email ?? user.email;
      const tokenHash = await mailToken(user.id, email, purpose);
      await store.transaction(async (tx) => {
        // Deleted while the mail went out: its deletion has already forgotten the user's tokens,
        // and this one, with the address it is bound to, must not outlive it either.
        if (!(await tx.users.findByIdForUpdate(user.id))) throw userNotFound();
        await tx.emailVerificationTokens.insert(tokenRow(tokenHash, user.id, email, purpose));
      });
    },

    /**
     * `POST /v1/email-verifications`: marks the token's address verified (or commits the pending
     * change it confirms) and returns the user. Used, expired, unknown tokens and tokens for an
     * address the user no longer has are refused, each with its own message.
     */
    async confirm(token: string, ctx: RequestContext): Promise<StoredUser> {
      const now = nowIso();
      let notice: OutgoingMail | null = null;
      const user = await store.transaction(async (tx) => {
        const row = await tx.emailVerificationTokens.findByHash(hashSecret(token));
        if (!row) throw refuse('Unknown token');
        if (row.usedAt) throw refuse('Token has already been used');
        if (row.expiresAt <= now) throw refuse('Token has expired; request a new verification email');
        const current = await tx.users.findByIdForUpdate(row.userId);
        const isCurrent = current !== undefined && sameMailbox(current.email, row.emailKey);
        const isPending = current?.pending_email !== undefined && row.purpose === 'change' && sameMailbox(current.pending_email, row.emailKey);
        if (!current || (!isCurrent && !isPending)) throw refuse('Token is for an address the user no longer has');
        if (!(await tx.emailVerificationTokens.markUsed(row.id, now))) throw refuse('Token has already been used');
        if (isCurrent && current.email_verified) return current;
        const changes: UserChanges = isCurrent ? { email_verified: true } : { email: current.pending_email, email_verified: true, pending_email: null };
        // Uniqueness is checked again here, by the index: someone may have taken the address (409).
        const updated = await tx.users.update(current.id, current.version, changes, now);
        if (!updated) throw userNotFound();
        if (!isCurrent) {
          // The fields that changed: email_verified only if it was false (the new address is verified).
          const previous = { email: current.email, ...(current.email_verified ? {} : { email_verified: false }), pending_email: current.pending_email ?? null };
          await recordEvent(tx, 'user.updated', current.id, ctx, { object: publicUser(updated), previous_attributes: previous });
          notice = emailChangedMail(current.email, updated.email);
        }
        await recordEvent(tx, 'user.email_verified', current.id, ctx, { object: publicUser(updated) });
        return updated;
      });
      // After commit, and best effort: the change stands even if the notice cannot go out now.
      if (notice) mailer.send(notice).catch((err) => onError(err, 'sending the email-change notice'));
      return user;
    },

    /**
     * Called by a PATCH carrying `email`, before its transaction. With
     * EMAIL_CHANGE_VERIFICATION=required and a different mailbox, checks the PATCH (`check`),
     * that the address is free, and mails the token to it; null when the change applies at once.
     */
    async prepareChange(userId: string, email: string, check: (before: StoredUser) => void | Promise<void>): Promise<PendingEmailChange | null> {
      if (config.emailChangeVerification !== 'required') return null;
      const before = await store.users.findById(userId);
      if (!before) throw userNotFound();
      await check(before);
      if (sameMailbox(email, before.email)) return null;
      const [holder] = await store.users.list({ email }, 0, 1);
      if (holder && holder.id !== userId) throw new AppError('conflict', EMAIL_TAKEN);
      return { email, tokenHash: await mailToken(userId, email, 'change') };
    },

    /**
     * Inside the PATCH's transaction: in required mode the new address becomes `pending_email`
     * (and its token is stored) instead of `email`. A direct change of address, or a PATCH back
     * to the current one, ends a pending change.
     */
    async applyChange(tx: Repositories, current: StoredUser, email: string | undefined, changes: UserChanges, pending: PendingEmailChange | null): Promise<void> {
      const mailboxChanges = email !== undefined && !sameMailbox(email, current.email);
      if (config.emailChangeVerification !== 'required' || !mailboxChanges) {
        if (email !== undefined && current.pending_email) changes.pending_email = null;
        return;
      }
      delete changes.email;
      delete changes.email_verified;
      // No token: the check saw this address as the user's, and a confirmation changed it since.
      if (!pending || !sameMailbox(pending.email, email)) throw new EmailChangedSinceCheck();
      if (current.pending_email !== pending.email) changes.pending_email = pending.email;
      await tx.emailVerificationTokens.insert(tokenRow(pending.tokenHash, current.id, pending.email, 'change'));
    },
  };
}

/**
 * Thrown inside a PATCH's transaction, which it undoes, when the user's email changed after the
 * check that decides whether the PATCH mails a verification: the PATCH is run again from its check.
 */
export class EmailChangedSinceCheck extends Error {}

export type EmailVerificationService = ReturnType<typeof createEmailVerificationService>;
/** What the user service needs of it to handle an email-changing PATCH. */
export type EmailChangeHook = Pick<EmailVerificationService, 'prepareChange' | 'applyChange'>;
