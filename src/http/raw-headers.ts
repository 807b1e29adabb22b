/**
 * How many times a request carries the header `lowerName` (lower case). Node keeps one value of
 * most headers and drops the rest, while a proxy in front may keep another: a header that must
 * mean one thing (Host, Authorization) is checked for repeats in the raw list.
 */
export function headerCount(rawHeaders: readonly string[], lowerName: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].length === lowerName.length && rawHeaders[i].toLowerCase() === lowerName) count++;
  return count;
}
