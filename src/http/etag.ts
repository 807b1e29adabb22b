/** A strong ETag for a versioned resource: it changes whenever the representation does. */
export function etagOf(resource: { version: number }): string {
  return `"v${resource.version}"`;
}

/** RFC 9110 §13.1.1: whether If-Match matches the current ETag (strong comparison; `*` matches any). */
export function ifMatches(header: string, current: string): boolean {
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim() === current);
}

/** RFC 9110 §13.1.2: whether If-None-Match matches (weak comparison). */
export function ifNoneMatches(header: string, current: string): boolean {
  if (header.trim() === '*') return true;
  const strip = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => strip(tag) === strip(current));
}
