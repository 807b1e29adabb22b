import { createServer } from 'node:net';
import * as oauth from 'oauth4webapi';
import type { Scope } from '../../src/services/auth.js';
import { type TestServer, type TestServerOptions, startTestServer } from './server.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * A test server whose PUBLIC_URL (the issuer) is its real address, as OAuth clients check that
 * the metadata names the URL they discovered it at.
 */
export async function startOAuthServer(options: TestServerOptions = {}): Promise<TestServer> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    try {
      return await startTestServer({ ...options, config: { port, publicUrl: `http://127.0.0.1:${port}`, ...options.config } });
    } catch (err) {
      // Another process took the port between the probe and the listen: try another.
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) throw err;
    }
  }
}

/** Registers an OAuth client through the service (as the CLI does); its secret is recorded for log scans. */
export async function createClient(server: TestServer, scopes: Scope[], name = 'test client') {
  const client = await server.server.runtime.services.oauthClients.create({ name, scopes });
  server.secrets.push(client.client_secret);
  return client;
}

/** A form POST to /oauth/token, as a hand-written client would send it. */
export async function tokenRequest(server: TestServer, form: Record<string, string> | string, headers: Record<string, string> = {}) {
  const body = typeof form === 'string' ? form : new URLSearchParams(form).toString();
  const res = await fetch(`${server.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : undefined };
}

export function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replaceAll('%20', '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

/** Discovers the server with oauth4webapi and gets a token by client credentials, as a real client does. */
export async function tokenWithLibrary(server: TestServer, clientId: string, secret: string, method: 'basic' | 'post', scope?: string): Promise<string> {
  const issuer = new URL(server.config.publicUrl);
  const insecure = { [oauth.allowInsecureRequests]: true };
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  const client: oauth.Client = { client_id: clientId };
  const auth = method === 'basic' ? oauth.ClientSecretBasic(secret) : oauth.ClientSecretPost(secret);
  const params = new URLSearchParams(scope ? { scope } : {});
  const response = await oauth.clientCredentialsGrantRequest(as, client, auth, params, insecure);
  const result = await oauth.processClientCredentialsResponse(as, client, response);
  server.secrets.push(result.access_token);
  return result.access_token;
}

/** Polls `probe` until it returns true; fails after a generous deadline (no timed assertion). */
export async function eventually(probe: () => Promise<boolean>, what: string, deadlineMs = 30_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for: ${what}`);
}
