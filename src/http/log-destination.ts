import cluster from 'node:cluster';
import sonicBoom, { type SonicBoomOpts, type SonicBoom as SonicBoomStream } from 'sonic-boom';

// A CommonJS module whose typings do not match its shape under NodeNext: the class is a property,
// and in buffer mode it takes Buffers.
type BufferBoom = Omit<SonicBoomStream, 'write'> & { write(chunk: Buffer): boolean };
const { SonicBoom } = sonicBoom as unknown as { SonicBoom: new (options: SonicBoomOpts) => BufferBoom };

/** Where the log's lines go: standard output in production (asyncStdout), a capture in tests. */
export interface LogStream {
  write(line: string): unknown;
}

export interface AsyncLogStream extends LogStream {
  /** Starts writing what is queued now, without waiting for a full block. */
  flush(): void;
}

/**
 * How much is queued before a write is made, and the most one write carries.
 *
 * Cluster workers share the primary's stdout: each of their writes carries whole lines and at
 * most PIPE_BUF bytes, a size the kernel writes to a pipe at once, so their lines never
 * interleave. A process on its own is the only writer of its stdout and writes larger blocks:
 * each write costs a round trip through libuv's thread pool, some 25 µs of CPU whatever its size,
 * and at 4 KiB that was 2 µs of every request.
 */
const PIPE_BUF = 4096;
const SHARED = { writeAt: 3072, most: PIPE_BUF };
const ALONE = { writeAt: 16 * 1024, most: 64 * 1024 };
const FLUSH_INTERVAL_MS = 1000;

/**
 * Standard output for the log, written asynchronously and in blocks. pino's default writes each
 * line with a blocking write(2) on the request path; here lines are queued and handed to the
 * kernel in the background, a block at a time (see above), or whatever is queued each second
 * when traffic is light. The price: lines queued at a crash may be lost, so the queue is written
 * out synchronously when the process exits, and a graceful stop waits for a write in flight.
 */
export function asyncStdout(shared = cluster.isWorker): AsyncLogStream {
  const block = shared ? SHARED : ALONE;
  // Buffer mode: in text mode SonicBoom joins the queued lines into one growing string and
  // measures its UTF-8 length again on every line, which costs more as the block grows.
  const destination = new SonicBoom({ fd: 1, sync: false, contentMode: 'buffer', minLength: block.writeAt, maxWrite: block.most, periodicFlush: FLUSH_INTERVAL_MS });
  process.once('exit', () => {
    try {
      destination.flushSync();
    } catch {
      // Closed or never opened: nothing more can be done for the log while the process ends.
    }
  });
  return {
    write: (line) => destination.write(Buffer.from(line)),
    flush: () => destination.flush(),
  };
}
