import Type, { type Static } from 'typebox';
import { NullableTimestamp, Scope, Timestamp } from './common.js';

export const OAuthClient = Type.Object(
  {
    client_id: Type.String({ maxLength: 16, description: 'The client id (not secret).', examples: ['cli_3k2j4h5g6f7d'] }),
    name: Type.String({ maxLength: 100 }),
    scopes: Type.Array(Scope, { description: 'The most a token of this client may carry.' }),
    created_at: Timestamp,
    last_used_at: NullableTimestamp('Last token issued, to the minute, or null.'),
  },
  { additionalProperties: false, description: 'An OAuth 2.0 client of the client-credentials grant (never its secret).' },
);
export type OAuthClient = Static<typeof OAuthClient>;

export const CreatedOAuthClient = Type.Object(
  {
    ...OAuthClient.properties,
    client_secret: Type.String({ maxLength: 100, description: 'The client secret: shown once, stored only as a hash.' }),
  },
  { additionalProperties: false, description: 'A new OAuth client with its secret, shown this once.' },
);
export type CreatedOAuthClient = Static<typeof CreatedOAuthClient>;

export const CreateOAuthClientBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000-\\u001f\\u007f]*$', 'x-error-message': 'Must not contain control characters' }),
    scopes: Type.Array(Scope, { minItems: 1, maxItems: 3, uniqueItems: true }),
  },
  { additionalProperties: false },
);
export type CreateOAuthClientBody = Static<typeof CreateOAuthClientBody>;

export const OAuthClientIdParams = Type.Object({ id: Type.String({ maxLength: 64 }) }, { additionalProperties: false });

export const OAuthClientList = Type.Object({ data: Type.Array(OAuthClient) }, { additionalProperties: false, description: 'Every active OAuth client, oldest first.' });
