/** The current time as RFC 3339 UTC with whole seconds, the only timestamp form on the wire. */
export function nowIso(): string {
  const second = Math.floor(Date.now() / 1000);
  // Every write asks, several times; the text changes once a second.
  if (second !== lastSecond) {
    lastSecond = second;
    lastIso = toIso(second * 1000);
  }
  return lastIso;
}

let lastSecond = -1;
let lastIso = '';

export function toIso(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
