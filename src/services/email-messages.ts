import type { OutgoingMail } from '../adapters/mailer.js';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The link in a verification email: PUBLIC_URL/verify-email?token=…, served by the application. */
export function verificationLink(publicUrl: string, token: string): string {
  return `${publicUrl}/verify-email?token=${encodeURIComponent(token)}`;
}

/** The message carrying a verification token, as plain text and HTML. */
export function verificationMail(to: string, link: string, purpose: 'verify' | 'change'): OutgoingMail {
  const why = purpose === 'change' ? 'Confirm your new email address' : 'Verify your email address';
  const intro =
    purpose === 'change'
      ? `Someone asked to change the email address of an account to ${to}. If it was you, confirm it with this link`
      : `Please confirm that ${to} is your email address with this link`;
  const text = `${why}\n\n${intro} (valid for 24 hours):\n\n${link}\n\nIf you did not ask for this, ignore this message.\n`;
  const html =
    `<!doctype html><html><body><h1>${escapeHtml(why)}</h1>` +
    `<p>${escapeHtml(intro)} (valid for 24 hours):</p>` +
    `<p><a href="${escapeHtml(link)}">${escapeHtml(link)}</a></p>` +
    '<p>If you did not ask for this, ignore this message.</p></body></html>';
  return { to, subject: why, text, html };
}

/** The notice to the old address once a change of address is confirmed. */
export function emailChangedMail(to: string, newEmail: string): OutgoingMail {
  const subject = 'Your email address was changed';
  const body = `The email address of your account was changed from ${to} to ${newEmail}. If you did not make this change, contact support at once.`;
  return {
    to,
    subject,
    text: `${subject}\n\n${body}\n`,
    html: `<!doctype html><html><body><h1>${escapeHtml(subject)}</h1><p>${escapeHtml(body)}</p></body></html>`,
  };
}
