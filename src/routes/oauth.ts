import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyReply } from 'fastify';
import { AppError } from '../errors.js';
import { unavailableAnswer } from '../http/errors.js';
import { headerCount } from '../http/raw-headers.js';
import { ServerMetadata, JwkSet, OAuthErrorBody, TokenRequestBody, TokenResponse } from '../schemas/oauth.js';
import type { AccessTokenService } from '../services/access-tokens.js';
import { SCOPES } from '../services/auth.js';
import { OAuthError } from '../services/oauth-errors.js';
import type { SigningKeyService } from '../services/signing-keys.js';

const tags = ['OAuth 2.0'];
const FORM = 'application/x-www-form-urlencoded';

interface Options {
  accessTokens: AccessTokenService;
  signingKeys: SigningKeyService;
}

/** Form-decoding of one Basic credential part (RFC 6749 §2.3.1: id and secret are form-urlencoded first). */
function formDecode(part: string): string | null {
  try {
    return decodeURIComponent(part.replaceAll('+', ' '));
  } catch {
    return null;
  }
}

/** `Basic base64(urlencode(id):urlencode(secret))` → the pair; null when malformed. */
export function parseBasic(header: string): { id: string; secret: string } | null {
  const match = /^Basic +([A-Za-z0-9+/]+={0,2})$/i.exec(header.trim());
  if (!match) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  const id = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  return id === null || secret === null ? null : { id, secret };
}

function sendOAuthError(reply: FastifyReply, err: OAuthError): FastifyReply {
  reply.headers(err.headers);
  // RFC 6749 §5.2: a failed client authentication answers 401 with a challenge.
  if (err.code === 'invalid_client') reply.header('www-authenticate', 'Basic realm="roster", charset="UTF-8"');
  return reply.code(err.status).header('cache-control', 'no-store').header('pragma', 'no-cache').send({ error: err.code, error_description: err.description });
}

/** The token endpoint, in its own scope: its parser and its RFC 6749 error format apply to it alone. */
const tokenEndpoint: FastifyPluginAsyncTypebox<Options> = async (app, { accessTokens }) => {
  app.removeAllContentTypeParsers();
  // A repeated parameter is refused (RFC 6749 §3.2): it could otherwise mean two things.
  app.addContentTypeParser(FORM, { parseAs: 'string' }, (_request, body, done) => {
    const params = new URLSearchParams(body as string);
    const out: Record<string, string> = Object.create(null);
    for (const [name, value] of params) {
      if (Object.hasOwn(out, name)) return done(new OAuthError('invalid_request', `Parameter ${name.slice(0, 50)} is repeated`), undefined);
      out[name] = value;
    }
    done(null, { ...out });
  });
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof OAuthError) return sendOAuthError(reply, err);
    if (err.validation) {
      const missing = err.validation.find((v) => v.keyword === 'required');
      const what = missing ? `${String((missing.params as { missingProperty: string }).missingProperty)} is required` : 'a parameter is too long or malformed';
      return sendOAuthError(reply, new OAuthError('invalid_request', `Invalid token request: ${what}`));
    }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err.statusCode === 415) {
      return sendOAuthError(reply, new OAuthError('invalid_request', `The body must be ${FORM}`));
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendOAuthError(reply, new OAuthError('invalid_request', 'The body is larger than 64 KiB'));
    // The hooks every route shares (the text guard) refuse in the API's format: here, RFC 6749's.
    if (err instanceof AppError && err.code === 'validation_error') {
      const problem = Object.values(err.details ?? {})[0]?.[0] ?? 'a parameter is malformed';
      return sendOAuthError(reply, new OAuthError('invalid_request', `Invalid token request: ${problem}`));
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return sendOAuthError(reply, new OAuthError('invalid_request', 'Malformed token request'));
    // An outage is not a bug: 503 with Retry-After, as on every other route, in RFC 6749's body.
    const unavailable = unavailableAnswer(err, request);
    if (unavailable) return sendOAuthError(reply, new OAuthError('temporarily_unavailable', unavailable.message, unavailable.headers));
    request.log.error({ err }, 'unhandled error');
    return sendOAuthError(reply, new OAuthError('server_error', `Internal error; reference ${request.id}`));
  });

  app.post(
    '/oauth/token',
    {
      schema: {
        operationId: 'createAccessToken',
        summary: 'Get an access token (client credentials)',
        description:
          'OAuth 2.0 token endpoint (RFC 6749 §4.4). Authenticate the client with HTTP Basic (`client_secret_basic`) or with `client_id` and `client_secret` in the body (`client_secret_post`), not both. ' +
          '`scope` may narrow the client’s scopes, never widen them. Errors use RFC 6749 §5.2’s body. Failed client authentications are limited per address, tokens per client.',
        tags,
        security: [{ clientBasic: [] }, {}],
        consumes: [FORM],
        body: TokenRequestBody,
        response: { 200: TokenResponse, 400: OAuthErrorBody, 401: OAuthErrorBody, 429: OAuthErrorBody, 500: OAuthErrorBody, 503: OAuthErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      // The form parser reads any body as sent: an encoded one would be read as garbage.
      const encoding = request.headers['content-encoding'];
      if (encoding !== undefined && encoding.toLowerCase() !== 'identity') throw new OAuthError('invalid_request', 'Content-Encoding is not supported; send the body unencoded');
      const header = request.headers.authorization;
      // As on every route: Node keeps the first of two, and a proxy in front may have read another.
      if (headerCount(request.raw.rawHeaders, 'authorization') > 1) throw new OAuthError('invalid_request', 'Send one Authorization header, not several');
      const basic = header === undefined ? null : parseBasic(header);
      if (header !== undefined && !basic) throw new OAuthError('invalid_client', 'Malformed Authorization header: expected Basic');
      // RFC 6749 §3.2.1 lets a client name itself with client_id alongside Basic (some libraries
      // always do); a second secret, or another id, is a second method.
      if (basic && (body.client_secret !== undefined || (body.client_id !== undefined && body.client_id !== basic.id))) {
        throw new OAuthError('invalid_request', 'Use one client authentication method, not both');
      }
      if (!basic && (body.client_id === undefined || body.client_secret === undefined)) throw new OAuthError('invalid_client', 'Client authentication is required');
      const token = await accessTokens.clientCredentials({
        grantType: body.grant_type,
        clientId: basic ? basic.id : (body.client_id as string),
        clientSecret: basic ? basic.secret : (body.client_secret as string),
        scope: body.scope,
        ip: request.ip,
      });
      // The access log names the client as the actor, as it names an API key.
      request.principal = { kind: 'oauth_client', id: token.client_id, scopes: new Set(), rateLimitPerMinute: null };
      reply.header('x-ratelimit-limit', token.rateLimit.limit).header('x-ratelimit-remaining', token.rateLimit.remaining).header('x-ratelimit-reset', token.rateLimit.resetAt);
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return { access_token: token.access_token, token_type: token.token_type, expires_in: token.expires_in, scope: token.scope };
    },
  );
};

export const oauthRoutes: FastifyPluginAsyncTypebox<Options> = async (app, options) => {
  const { accessTokens, signingKeys } = options;
  app.get(
    '/.well-known/oauth-authorization-server',
    {
      schema: {
        operationId: 'getAuthorizationServerMetadata',
        summary: 'Authorization server metadata',
        description: 'RFC 8414 metadata of the built-in authorization server: its issuer, token endpoint, JWKS and what it supports.',
        tags,
        security: [],
        response: { 200: ServerMetadata },
      },
    },
    async () => ({
      issuer: accessTokens.issuer,
      token_endpoint: `${accessTokens.issuer}/oauth/token`,
      jwks_uri: `${accessTokens.issuer}/.well-known/jwks.json`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      // Required by RFC 8414; empty because no authorization endpoint exists (client credentials only).
      response_types_supported: [],
      scopes_supported: [...SCOPES],
      service_documentation: `${accessTokens.issuer}/docs`,
    }),
  );

  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        operationId: 'getJwks',
        summary: 'Token signing keys (JWKS)',
        description: 'The public keys (ES256) that sign access tokens: the current one, and retired ones until every token they signed has expired.',
        tags,
        security: [],
        response: { 200: JwkSet },
      },
    },
    async () => signingKeys.jwks(),
  );

  await app.register(tokenEndpoint, options);
};
