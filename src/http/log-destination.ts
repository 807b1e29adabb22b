import sonicBoom, { type SonicBoomOpts, type SonicBoom as SonicBoomStream } from 'sonic-boom';

// A CommonJS module whose typings do not match its shape under NodeNext: the class is a property.
const { SonicBoom } = sonicBoom as unknown as { SonicBoom: new (options: SonicBoomOpts) => SonicBoomStream };

/** Where the log's lines go: standard output in production (asyncStdout), a capture in tests. */
export interface LogStream {
  write(line: string): unknown;
}

/** Lines are written once this much is queued, and at least every FLUSH_INTERVAL_MS. */
const WRITE_AT_BYTES = 4096;
const FLUSH_INTERVAL_MS = 1000;

/**
 * Standard output for the log, written asynchronously and in blocks. pino's default writes each
 * line with a blocking write(2) on the request path; here lines are queued and handed to the
 * kernel in the background, some twenty at a time (4 KiB), or whatever is queued each second
 * when traffic is light. The price: lines queued at a crash may be lost, so the queue is written
 * out synchronously when the process exits, and a graceful stop waits for a write in flight.
 */
export function asyncStdout(): SonicBoomStream {
  const destination = new SonicBoom({ fd: 1, sync: false, minLength: WRITE_AT_BYTES, periodicFlush: FLUSH_INTERVAL_MS });
  process.once('exit', () => {
    try {
      destination.flushSync();
    } catch {
      // Closed or never opened: nothing more can be done for the log while the process ends.
    }
  });
  return destination;
}
