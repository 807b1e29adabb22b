import { nowIso } from '../adapters/clock.js';
import { randomId } from '../adapters/ids.js';
import type { User } from '../schemas/users.js';
import type { EventType } from '../store/events.js';
import type { Repositories } from '../store/index.js';
import type { StoredUser } from '../store/users.js';
import type { RequestContext } from './auth.js';

/** The wire form of a stored user, as events carry it. */
export function publicUser(user: StoredUser): User {
  const { version: _version, seq: _seq, ...wire } = user;
  return wire;
}

/**
 * Appends the event of a change to the transaction making it, so that the change and its record
 * commit together or not at all. `data` follows Stripe's shape: the object after the change,
 * and for updates the previous values of the fields that changed.
 */
export async function recordEvent(tx: Repositories, type: EventType, userId: string, ctx: RequestContext, data: Record<string, unknown>): Promise<void> {
  await tx.events.append({
    id: randomId('evt_', 16),
    type,
    userId,
    actorKind: ctx.actor.kind,
    actorId: ctx.actor.id,
    requestId: ctx.requestId,
    data,
    createdAt: nowIso(),
  });
}
