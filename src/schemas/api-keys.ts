import Type, { type Static } from 'typebox';
import { NullableTimestamp, Scope, Timestamp } from './common.js';

export const ApiKey = Type.Object(
  {
    id: Type.String({ maxLength: 16, description: 'Key id (not secret).', examples: ['key_3k2j4h5g6f7d'] }),
    name: Type.String({ maxLength: 100 }),
    scopes: Type.Array(Scope),
    rate_limit_per_minute: Type.Union([Type.Integer(), Type.Null()], { description: "The key's own limit, or null for the default." }),
    created_at: Timestamp,
    expires_at: NullableTimestamp('When the key stops working, or null.'),
    last_used_at: NullableTimestamp('Last use, to the minute, or null.'),
  },
  { additionalProperties: false, description: 'An API key (never its secret).' },
);
export type ApiKey = Static<typeof ApiKey>;

export const CreatedApiKey = Type.Object(
  {
    ...ApiKey.properties,
    secret: Type.String({ maxLength: 100, description: 'The credential: shown once, stored only as a hash.' }),
  },
  { additionalProperties: false, description: 'A new API key with its secret, shown this once.' },
);
export type CreatedApiKey = Static<typeof CreatedApiKey>;

export const CreateApiKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000-\\u001f\\u007f]*$', 'x-error-message': 'Must not contain control characters' }),
    scopes: Type.Array(Scope, { minItems: 1, maxItems: 3, uniqueItems: true }),
    expires_in: Type.Optional(Type.Integer({ minimum: 60, maximum: 315_360_000, description: 'Seconds until the key expires.' })),
    rate_limit_per_minute: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'Own limit instead of the default.' })),
  },
  { additionalProperties: false },
);
export type CreateApiKeyBody = Static<typeof CreateApiKeyBody>;

export const ApiKeyIdParams = Type.Object({ id: Type.String({ maxLength: 64 }) }, { additionalProperties: false });
export type ApiKeyIdParams = Static<typeof ApiKeyIdParams>;

export const ApiKeyList = Type.Object({ data: Type.Array(ApiKey) }, { additionalProperties: false, description: 'Every active API key, oldest first.' });
