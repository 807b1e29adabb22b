import type { Transporter } from 'nodemailer';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** What log mode writes instead of sending: the plain-text body carries the link. */
export type LoggedMail = Pick<OutgoingMail, 'to' | 'subject' | 'text'>;

export interface Mailer {
  /** Sends one message; throws MailUnavailableError when the SMTP server cannot take it. */
  send(mail: OutgoingMail): Promise<void>;
  /** True when mail goes to the log (no SMTP_URL). */
  readonly logOnly: boolean;
  close(): void;
}

/**
 * The SMTP server is down, refused the message, or timed out: the caller answers 503. Only the
 * error's codes are kept: nodemailer's messages and responses may quote the recipient's address,
 * which has no place in a log line.
 */
export class MailUnavailableError extends Error {
  constructor(err: unknown) {
    const e = (err ?? {}) as { code?: unknown; responseCode?: unknown; command?: unknown };
    const codes = [e.code, e.responseCode, e.command && String(e.command).split(' ')[0]].filter((c) => c !== undefined && c !== null && c !== '');
    super(`The SMTP server did not accept the message (${codes.join(' ') || 'no code'})`);
  }
}

export interface MailerOptions {
  /** smtp:// or smtps:// URL, credentials included; null writes mail to `log` instead. */
  smtpUrl: string | null;
  from: string;
  /** Where mail goes without SMTP_URL, so that a local start works. */
  log: (mail: LoggedMail) => void;
}

/** nodemailer over SMTP, or the log when no server is configured. */
export function createMailer({ smtpUrl, from, log }: MailerOptions): Mailer {
  if (!smtpUrl) {
    return {
      logOnly: true,
      async send(mail) {
        log({ to: mail.to, subject: mail.subject, text: mail.text });
      },
      close() {},
    };
  }
  // nodemailer is loaded with the first message: most requests never send one.
  let transport: Promise<Transporter> | undefined;
  const open = async (): Promise<Transporter> =>
    (await import('nodemailer')).createTransport(
      {
        url: smtpUrl,
        // Short enough that a dead server answers 503 well before the 30 s request timeout.
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 15_000,
      },
      { from },
    );
  return {
    logOnly: false,
    async send(mail) {
      transport ??= open();
      try {
        await (await transport).sendMail({ to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
      } catch (err) {
        throw new MailUnavailableError(err);
      }
    },
    close: () => void transport?.then((t) => t.close(), () => {}),
  };
}
