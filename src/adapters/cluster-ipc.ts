import type { Worker } from 'node:cluster';

/**
 * A request from a `roster serve` worker to the primary and its reply, over the cluster's IPC
 * channel: each request carries an id, and the reply with that id settles it.
 */
interface Reply<Result> {
  type: string;
  id: number;
  result?: Result;
  error?: string;
}

/**
 * The worker's side: a function that sends `type` requests to the primary and resolves with its
 * answers. `what` names the service in errors. Without the primary there is nothing to ask: the
 * calls fail (503/500) rather than hang.
 */
export function askPrimary<Request extends object, Result>(type: string, what: string, channel: NodeJS.Process = process): (request: Request) => Promise<Result> {
  let nextId = 0;
  const pending = new Map<number, { resolve(r: Result): void; reject(e: Error): void }>();
  channel.on('message', (msg: Reply<Result>) => {
    if (msg?.type !== `${type}-reply`) return;
    const waiter = pending.get(msg.id);
    if (!waiter) return;
    pending.delete(msg.id);
    if (msg.error !== undefined) waiter.reject(new Error(`${what} (primary): ${msg.error}`));
    else waiter.resolve(msg.result as Result);
  });
  channel.on('disconnect', () => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${what}: the primary process is gone`));
    pending.clear();
  });
  return (request) =>
    new Promise<Result>((resolve, reject) => {
      if (!channel.connected || !channel.send) return reject(new Error(`${what}: the primary process is gone`));
      const id = nextId++;
      pending.set(id, { resolve, reject });
      channel.send({ ...request, type, id });
    });
}

/** The primary's side: answers one worker's `type` requests with `answer`. */
export function answerWorker<Request extends object, Result>(worker: Worker, type: string, answer: (request: Request) => Promise<Result>): void {
  worker.on('message', (msg: Request & { type?: string; id: number }) => {
    if (msg?.type !== type) return;
    const reply = (body: Omit<Reply<Result>, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: `${type}-reply`, id: msg.id, ...body } satisfies Reply<Result>);
    };
    answer(msg).then(
      (result) => reply({ result }),
      (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
    );
  });
}
