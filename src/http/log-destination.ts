import sonicBoom, { type SonicBoomOpts, type SonicBoom as SonicBoomStream } from 'sonic-boom';

// A CommonJS module whose typings do not match its shape under NodeNext: the class is a property.
const { SonicBoom } = sonicBoom as unknown as { SonicBoom: new (options: SonicBoomOpts) => SonicBoomStream };

/** Where the log's lines go: standard output in production (asyncStdout), a capture in tests. */
export interface LogStream {
  write(line: string): unknown;
}

/**
 * Each write(2) carries whole lines and at most PIPE_BUF bytes: a write that size is atomic on a
 * pipe, so the lines of workers sharing the primary's stdout never interleave. A write is made
 * once WRITE_AT_BYTES are queued, and at least every FLUSH_INTERVAL_MS.
 */
const PIPE_BUF = 4096;
const WRITE_AT_BYTES = 3072;
const FLUSH_INTERVAL_MS = 1000;

/**
 * Standard output for the log, written asynchronously and in blocks. pino's default writes each
 * line with a blocking write(2) on the request path; here lines are queued and handed to the
 * kernel in the background, some fifteen at a time (3 to 4 KiB), or whatever is queued each
 * second when traffic is light. The price: lines queued at a crash may be lost, so the queue is
 * written out synchronously when the process exits, and a graceful stop waits for a write in
 * flight.
 */
export function asyncStdout(): SonicBoomStream {
  const destination = new SonicBoom({ fd: 1, sync: false, minLength: WRITE_AT_BYTES, maxWrite: PIPE_BUF, periodicFlush: FLUSH_INTERVAL_MS });
  process.once('exit', () => {
    try {
      destination.flushSync();
    } catch {
      // Closed or never opened: nothing more can be done for the log while the process ends.
    }
  });
  return destination;
}
