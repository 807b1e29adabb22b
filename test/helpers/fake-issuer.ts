import { type Server, createServer } from 'node:http';
import { type CryptoKey, type JWK, SignJWT, exportJWK, generateKeyPair } from 'jose';

interface IssuerKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/**
 * An external authorization server, played by a real HTTP server: it publishes OpenID discovery
 * metadata and a JWKS, signs access tokens, and rotates its keys on demand. It counts JWKS
 * fetches, so tests can see how often the API asks.
 */
export async function startFakeIssuer(options: { metadata?: 'openid' | 'oauth' | 'none'; alg?: 'RS256' | 'ES256' } = {}) {
  const alg = options.alg ?? 'RS256';
  let published: IssuerKey[] = [];
  let signing: IssuerKey;
  let jwksFetches = 0;
  let counter = 0;
  /** The status the JWKS answers with; 200 serves the keys. */
  let jwksStatus = 200;

  async function newKey(): Promise<IssuerKey> {
    const pair = await generateKeyPair(alg);
    counter += 1;
    const kid = `issuer-key-${counter}`;
    return { kid, privateKey: pair.privateKey, publicJwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' } };
  }

  signing = await newKey();
  published = [signing];

  const server: Server = createServer((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const metaPath = options.metadata === 'oauth' ? '/.well-known/oauth-authorization-server' : '/.well-known/openid-configuration';
    if (req.url === metaPath && options.metadata !== 'none') return json(200, { issuer, jwks_uri: `${issuer}/keys`, token_endpoint: `${issuer}/token` });
    if (req.url === '/keys') {
      jwksFetches += 1;
      if (jwksStatus !== 200) return json(jwksStatus, { error: 'unavailable' });
      return json(200, { keys: published.map((k) => k.publicJwk) });
    }
    return json(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const issuer = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  return {
    issuer,
    get jwksFetches() {
      return jwksFetches;
    },
    get kid() {
      return signing.kid;
    },
    /** Signs an access token with the current key (or `key`), over the claims given plus sane defaults. */
    async sign(claims: Record<string, unknown>, opts: { header?: Record<string, unknown>; key?: CryptoKey; alg?: string } = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer, iat: now, exp: now + 300, ...claims })
        .setProtectedHeader({ alg: opts.alg ?? alg, kid: signing.kid, typ: 'at+jwt', ...opts.header })
        .sign(opts.key ?? signing.privateKey);
    },
    publicJwk: () => signing.publicJwk,
    /** Makes the JWKS answer `status` (a failing issuer) until set back to 200. */
    setJwksStatus(status: number) {
      jwksStatus = status;
    },
    /** A new key signs from now on; the old one stays published only if `keepOld`. */
    async rotate(keepOld: boolean) {
      const next = await newKey();
      published = keepOld ? [...published, next] : [next];
      signing = next;
      return next.kid;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
