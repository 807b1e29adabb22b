/**
 * What stays of a deleted user where it was recorded, in its events and in kept responses: the
 * record of what happened (an event's type, time, actor and request id live outside `data`),
 * which fields changed, and values that identify no one. Everything else a user gave (email,
 * username, names, pending addresses, metadata values, and any field not known to be harmless)
 * becomes null.
 */
const KEPT_FIELDS = new Set(['id', 'role', 'email_verified', 'created_at', 'updated_at']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A user object (as the API shows it) with the personal values erased; keys are kept. */
export function erasePersonalValues(object: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(object)) {
    if (KEPT_FIELDS.has(field)) out[field] = value;
    // Metadata keys are the application's schema; their values are the person's.
    else if (field === 'metadata' && isObject(value)) out[field] = Object.fromEntries(Object.keys(value).map((k) => [k, null]));
    else out[field] = null;
  }
  return out;
}

/** The `data` of an event with the personal values erased; keys are kept, so "what changed" stays. */
export function erasePersonalData(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(data)) {
    if ((field === 'object' || field === 'previous_attributes') && isObject(value)) out[field] = erasePersonalValues(value);
    else if (KEPT_FIELDS.has(field)) out[field] = value;
    else out[field] = null;
  }
  return out;
}
