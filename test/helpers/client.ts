/** A response as the tests inspect it. */
export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface CallOptions {
  key?: string;
  body?: unknown;
  /** Sent as is, instead of JSON-encoding `body`. */
  rawBody?: string | Buffer;
  headers?: Record<string, string>;
}

/** Real HTTP over a socket: no injection, no shortcut around the server. */
export async function call<T = any>(baseUrl: string, method: string, path: string, options: CallOptions = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  let body: string | Buffer | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(baseUrl + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text.length > 0 && (res.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

/** A client bound to one server and one credential. */
export function clientFor(baseUrl: string, key?: string) {
  const c = (method: string) => (path: string, options: CallOptions = {}) => call(baseUrl, method, path, { key, ...options });
  return { get: c('GET'), post: c('POST'), patch: c('PATCH'), put: c('PUT'), delete: c('DELETE') };
}

export type Client = ReturnType<typeof clientFor>;

let counter = 0;
/** A username and email unique to this process, so test files can run in parallel on one database. */
export function uniqueUser(prefix = 'user') {
  counter += 1;
  const tag = `${prefix}${process.pid}x${counter}x${Math.random().toString(36).slice(2, 8)}`;
  return { email: `${tag}@example.com`, username: tag.slice(0, 32) };
}
