/**
 * JSON with object keys sorted at every level: two values that are the same JSON data, whatever
 * the order of their keys, give the same text. PostgreSQL's jsonb (in databases migrated before
 * 0012) and clients alike may reorder keys.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
