import { validationError } from '../errors.js';

const LAST_INSTANT_MS = Date.UTC(9999, 11, 31, 23, 59, 59);

/**
 * An RFC 3339 instant from a query (`created_after`, `created_before`) in the stored form, for
 * comparison with stored times (UTC, whole seconds). Fractions round up, so `>=` and `<` stay
 * exact on whole-second data.
 */
export function toStoredInstant(field: string, value: string): string {
  const ms = parseInstant(value);
  if (Number.isNaN(ms)) throw validationError({ [field]: ['Must be an RFC 3339 date-time'] });
  const rounded = Math.ceil(ms / 1000) * 1000;
  // An offset or a fraction can put a valid RFC 3339 time in year 10000, which toISOString writes
  // as "+010000-…" and which would sort before every stored time; this sorts after all of them.
  if (rounded > LAST_INSTANT_MS) return '9999-12-31T23:59:60Z';
  return new Date(rounded).toISOString().replace('.000Z', 'Z');
}

/**
 * Date.parse, plus RFC 3339's leap second (`23:59:60`, which Date.parse refuses): every instant
 * within it lies after second 59 and before the next minute, so against whole-second times it
 * compares as the next minute's start, whatever its fraction.
 */
function parseInstant(value: string): number {
  const leap = /^(.+[Tt ]\d\d:\d\d:)60(?:\.\d+)?([Zz]|[+-]\d\d:\d\d)$/.exec(value);
  return leap ? Date.parse(`${leap[1]}59${leap[2]}`) + 1000 : Date.parse(value);
}
