import Type, { type Static } from 'typebox';

const Param = (description: string) => Type.String({ maxLength: 2048, description });

/**
 * The token request (RFC 6749 §4.4.2), form-encoded. Unknown parameters are allowed because
 * RFC 6749 §3.2 says the server MUST ignore them; each is still bounded.
 */
export const TokenRequestBody = Type.Object(
  {
    grant_type: Param('`client_credentials`.'),
    scope: Type.Optional(Param('Space-separated scopes, each held by the client; default: all of the client’s.')),
    client_id: Type.Optional(Param('With `client_secret_post`: the client id.')),
    client_secret: Type.Optional(Param('With `client_secret_post`: the client secret.')),
  },
  { additionalProperties: Type.String({ maxLength: 2048 }), description: 'application/x-www-form-urlencoded' },
);
export type TokenRequestBody = Static<typeof TokenRequestBody>;

export const TokenResponse = Type.Object(
  {
    access_token: Type.String({ maxLength: 4096, description: 'A JWT access token (RFC 9068), signed ES256.' }),
    token_type: Type.Literal('Bearer'),
    expires_in: Type.Integer({ description: 'Seconds until it expires (ACCESS_TOKEN_TTL_SECONDS).' }),
    scope: Type.String({ maxLength: 100, description: 'The scopes granted, space-separated.' }),
  },
  { additionalProperties: false, description: 'RFC 6749 §5.1 successful response.' },
);

export const OAuthErrorBody = Type.Object(
  {
    error: Type.String({
      maxLength: 64,
      description: '`invalid_request`, `invalid_client` (401), `invalid_scope`, `unsupported_grant_type`, `rate_limit_exceeded` (429), `server_error` (500), or `temporarily_unavailable` (503, with `Retry-After`: the database cannot be reached or cannot write).',
    }),
    error_description: Type.String({ maxLength: 1000 }),
  },
  { additionalProperties: false, description: 'RFC 6749 §5.2 error response (this endpoint only).' },
);

export const ServerMetadata = Type.Object(
  {
    issuer: Type.String({ maxLength: 2048 }),
    token_endpoint: Type.String({ maxLength: 2048 }),
    jwks_uri: Type.String({ maxLength: 2048 }),
    grant_types_supported: Type.Array(Type.String({ maxLength: 64 })),
    token_endpoint_auth_methods_supported: Type.Array(Type.String({ maxLength: 64 })),
    response_types_supported: Type.Array(Type.String({ maxLength: 64 })),
    scopes_supported: Type.Array(Type.String({ maxLength: 64 })),
    service_documentation: Type.String({ maxLength: 2048 }),
  },
  { additionalProperties: false, description: 'Authorization server metadata (RFC 8414).' },
);

export const JwkSet = Type.Object(
  {
    keys: Type.Array(
      Type.Object(
        {
          kty: Type.String({ maxLength: 10 }),
          crv: Type.String({ maxLength: 10 }),
          x: Type.String({ maxLength: 100 }),
          y: Type.String({ maxLength: 100 }),
          kid: Type.String({ maxLength: 100 }),
          alg: Type.String({ maxLength: 10 }),
          use: Type.String({ maxLength: 10 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, description: 'The public keys that sign access tokens (RFC 7517); retired keys stay until their tokens expire.' },
);
