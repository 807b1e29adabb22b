import { type Server, type Socket, connect, createServer } from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL or Redis that a test can cut and restore, standing for a
 * network failure or a restart of the server behind it. While cut, open connections are reset
 * and new ones are closed as soon as they arrive. While held, connections stay open but nothing
 * passes either way (a server that hangs); released, what was held goes through.
 */
export interface TcpProxy {
  port: number;
  cut(): void;
  restore(): void;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const pairs = new Set<[Socket, Socket]>();
  let up = true;
  let held = false;
  const server: Server = createServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.on('close', () => pairs.delete(pair));
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    if (!held) {
      client.pipe(upstream);
      upstream.pipe(client);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('proxy has no port');
  const cut = () => {
    up = false;
    for (const s of sockets) s.resetAndDestroy();
    sockets.clear();
  };
  return {
    port: address.port,
    cut,
    restore() {
      up = true;
    },
    hold() {
      held = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
      }
    },
    release() {
      held = false;
      for (const [client, upstream] of pairs) {
        client.pipe(upstream);
        upstream.pipe(client);
      }
    },
    async close() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Polls `probe` until it returns true; fails with `what` after `deadlineMs` (generous: a noisy machine). */
export async function eventually(what: string, probe: () => Promise<boolean>, deadlineMs = 30_000, everyMs = 100): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
