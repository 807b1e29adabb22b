import { type Runtime, openRuntime } from '../../src/compose.js';
import { type Config, configWith } from '../../src/config.js';
import type { Backend } from './backends.js';
import { type Responder, startReceiver } from './receiver.js';

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/**
 * Runs `run` with a runtime on a fresh database of `backend` (webhooks to loopback allowed) and
 * one webhook receiver per responder, then closes them all and drops the database.
 */
export async function withOutbox(
  backend: Backend,
  responders: Responder[],
  run: (outbox: { runtime: Runtime; config: Config; receivers: Receiver[] }) => Promise<void>,
): Promise<void> {
  const db = await backend.create();
  const config = configWith({ databaseUrl: db.url, webhookAllowPrivate: true });
  const runtime = await openRuntime(config);
  const receivers = await Promise.all(responders.map((respond) => startReceiver(respond)));
  try {
    await run({ runtime, config, receivers });
  } finally {
    for (const receiver of receivers) await receiver.close();
    await runtime.close();
    await db.drop();
  }
}
