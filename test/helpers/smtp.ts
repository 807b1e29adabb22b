import { createServer } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** A message as the test SMTP server received it, its parts decoded. */
export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  raw: string;
  text: string;
  html: string;
}

export interface TestSmtp {
  url: string;
  mails: ReceivedMail[];
  /** Polls (generous deadline, no fixed sleep) until a message to `to` matching `where` arrives. */
  waitFor(to: string, where?: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  stop(): Promise<void>;
}

function headersOf(block: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return headers;
}

function decodeBody(body: string, encoding: string | undefined): string {
  switch ((encoding ?? '7bit').toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    case 'quoted-printable':
      return Buffer.from(
        body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
        'latin1',
      ).toString('utf8');
    default:
      return body;
  }
}

/** Enough of MIME for what nodemailer sends: one part, or multipart/alternative of text and HTML. */
export function parseMail(raw: string, from: string, to: string[]): ReceivedMail {
  const split = raw.search(/\r?\n\r?\n/);
  const headers = headersOf(raw.slice(0, split));
  const body = raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const mail: ReceivedMail = { from, to, subject: headers.subject ?? '', raw, text: '', html: '' };
  const boundary = /boundary="?([^";]+)"?/i.exec(headers['content-type'] ?? '')?.[1];
  const parts = boundary ? body.split(`--${boundary}`).slice(1, -1) : [raw];
  for (const part of parts) {
    const cut = part.search(/\r?\n\r?\n/);
    const h = headersOf(part.slice(0, cut));
    const content = decodeBody(part.slice(cut).replace(/^\r?\n\r?\n/, '').replace(/\r?\n$/, ''), h['content-transfer-encoding']);
    if ((h['content-type'] ?? '').startsWith('text/html')) mail.html = content;
    else if ((h['content-type'] ?? 'text/plain').startsWith('text/plain')) mail.text = content;
  }
  return mail;
}

/**
 * A real SMTP server in the test process (smtp-server), on a free port, keeping every message.
 * `beforeAccept`, when given, is awaited after a message has arrived (and is listed in `mails`)
 * and before the server accepts it: the sender waits meanwhile, as it would on a slow server.
 */
export async function startTestSmtp(options: { beforeAccept?: () => Promise<void> } = {}): Promise<TestSmtp> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    // Plain SMTP on loopback: no self-signed certificate for the client to reject.
    hideSTARTTLS: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        mails.push(parseMail(Buffer.concat(chunks).toString('utf8'), from, session.envelope.rcptTo.map((r) => r.address)));
        void (options.beforeAccept?.() ?? Promise.resolve()).then(() => callback());
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    async waitFor(to, where = () => true, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = mails.find((m) => m.to.some((t) => t.toLowerCase() === to.toLowerCase()) && where(m));
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no mail to ${to} within ${timeoutMs} ms (received: ${mails.map((m) => m.to.join(',')).join('; ')})`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The token in a verification mail's link (`…/verify-email?token=…`). */
export function tokenFrom(mail: ReceivedMail): string {
  const match = /[?&]token=([A-Za-z0-9_%.~-]+)/.exec(mail.text);
  if (!match) throw new Error(`no token in mail: ${mail.text}`);
  return decodeURIComponent(match[1]);
}

/** An SMTP URL where nothing listens: a port taken from the OS, then released. */
export async function deadSmtpUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const address = probe.address();
  const port = typeof address === 'object' && address ? address.port : 1;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `smtp://127.0.0.1:${port}`;
}
