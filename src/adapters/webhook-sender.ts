import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { guardedLookup, isPrivateAddress } from './network.js';

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  allowPrivate: boolean;
  /** Aborts the request (the worker is stopping). */
  signal?: AbortSignal;
}

export interface WebhookResponse {
  /** The HTTP status, or null when no response came (refused, timed out, unreachable). */
  status: number | null;
  latencyMs: number;
  error: string | null;
  /** Whether the attempt was cut short by `signal` (not the endpoint's fault). */
  aborted: boolean;
}

const MAX_ERROR_LENGTH = 500;

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = e.code && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : e.message || String(err);
  return text.slice(0, MAX_ERROR_LENGTH);
}

/**
 * POSTs one webhook. Never throws: every failure is a response with `error`. The whole exchange
 * is cut off after `timeoutMs`, so a slow endpoint holds only its own delivery. Redirects are not
 * followed (a 3xx is a failure, as Standard Webhooks says), and non-public addresses are refused
 * at connection time unless `allowPrivate`.
 */
export function postWebhook(req: WebhookRequest): Promise<WebhookResponse> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (status: number | null, error: string | null, aborted = false) => {
      if (settled) return;
      settled = true;
      resolve({ status, latencyMs: elapsed(), error, aborted });
    };
    let url: URL;
    try {
      url = new URL(req.url);
    } catch (err) {
      return finish(null, describe(err));
    }
    // A literal address never goes through `lookup`, so it is checked here.
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!req.allowPrivate && isIP(host) && isPrivateAddress(host)) return finish(null, `refused to connect to non-public address ${host}`);

    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(url, {
      method: 'POST',
      headers: { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) },
      lookup: guardedLookup(req.allowPrivate) as never,
      agent: false,
    });
    const timer = setTimeout(() => {
      finish(null, `timed out after ${req.timeoutMs} ms`);
      request.destroy();
    }, req.timeoutMs);
    const onAbort = () => {
      finish(null, 'delivery interrupted: the worker stopped', true);
      request.destroy();
    };
    if (req.signal?.aborted) return onAbort();
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = () => {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
    };
    request.on('response', (res) => {
      // The status is the answer; the body is read and dropped, within the same deadline.
      finish(res.statusCode ?? null, res.statusCode && res.statusCode >= 200 && res.statusCode < 300 ? null : `HTTP ${res.statusCode}`);
      res.resume();
      res.on('end', cleanup);
      res.on('error', cleanup);
      res.on('close', cleanup);
    });
    request.on('error', (err) => {
      cleanup();
      finish(null, describe(err));
    });
    request.end(req.body);
  });
}
