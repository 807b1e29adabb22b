import sonicBoom, { type SonicBoomOpts, type SonicBoom as SonicBoomStream } from 'sonic-boom';

// A CommonJS module whose typings do not match its shape under NodeNext: the class is a property.
const { SonicBoom } = sonicBoom as unknown as { SonicBoom: new (options: SonicBoomOpts) => SonicBoomStream };

/**
 * Standard output for the log, written asynchronously. pino's default writes each line with a
 * blocking write(2) on the request path; here a line is handed to the kernel in the background,
 * and lines that arrive while a write is in flight go out together in the next one. The price:
 * lines queued at a crash may be lost, so the queue is written out synchronously when the process
 * exits, and a graceful stop waits for it (the pending write keeps the event loop alive).
 */
export function asyncStdout(): SonicBoomStream {
  const destination = new SonicBoom({ fd: 1, sync: false });
  process.once('exit', () => {
    try {
      destination.flushSync();
    } catch {
      // Closed or never opened: nothing more can be done for the log while the process ends.
    }
  });
  return destination;
}
