import http, { type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
  /** The webhook-id header. */
  id: string;
  /** What the receiver answered (null while it holds the request open). */
  answered: number | null;
}

/** Decides the answer to a request: a status, or 'hang' to hold it open without answering. */
export type Responder = (req: ReceivedRequest, all: ReceivedRequest[]) => number | 'hang';

/** A real HTTP server on 127.0.0.1 that records every webhook it receives. */
export async function startReceiver(respond: Responder = () => 200) {
  const received: ReceivedRequest[] = [];
  const held = new Set<ServerResponse>();
  let responder = respond;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry: ReceivedRequest = { headers: req.headers, body: Buffer.concat(chunks).toString(), id: String(req.headers['webhook-id'] ?? ''), answered: null };
      received.push(entry);
      const answer = responder(entry, received);
      if (answer === 'hang') {
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      entry.answered = answer;
      res.writeHead(answer, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    setResponder(r: Responder) {
      responder = r;
    },
    /** The requests for one event id. */
    forEvent: (id: string) => received.filter((r) => r.id === id),
    async close(): Promise<void> {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** Polls `check` until it returns a truthy value; fails with `what` after a generous deadline. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
