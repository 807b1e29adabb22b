import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the heap grow past what a full collection left alive before it collects again:
 * by half (a factor of 1.5).
 *
 * Why: V8 picks that factor from the speed of its collections, up to 4 when the process may use
 * gigabytes. A server's live heap is small (some 25 MB here, whatever the number of users), so
 * after startup V8 let about 75 MB of dead objects pile up before it first looked again: under
 * steady load the resident memory rose from 125 MiB to 185–200 MiB over a minute or two, and only
 * then fell. At 1.5 it levels off near 150 MiB, for a full collection every few seconds to few
 * tens of seconds, most of its marking done on another thread.
 *
 * V8 reads this flag whenever it sets its next limit, so setting it at run time, before the
 * service allocates, takes effect (the heap's size limits, fixed at startup, would not). A factor
 * given on the command line (`node --heap-growing-percent=N`) is left as it is.
 */
export const HEAP_GROWING_PERCENT = 50;

export function boundHeapGrowth(): void {
  if (process.execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
