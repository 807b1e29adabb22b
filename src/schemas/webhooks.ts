import Type, { type Static } from 'typebox';
import { Cursor, Limit, NullableString, NullableTimestamp, Page, Timestamp } from './common.js';

const EventTypeOrAll = Type.Union(
  [
    Type.Literal('*'),
    Type.Literal('user.created'),
    Type.Literal('user.updated'),
    Type.Literal('user.deleted'),
    Type.Literal('user.password_changed'),
    Type.Literal('user.email_verified'),
  ],
  { description: 'An event type, or `*` for every type.' },
);

export const WebhookEndpoint = Type.Object(
  {
    id: Type.String({ maxLength: 32, description: 'Endpoint id.', examples: ['we_3k2j4h5g6f7d'] }),
    url: Type.String({ maxLength: 2048, description: 'Where events are POSTed.', examples: ['https://example.com/webhooks/roster'] }),
    description: NullableString({ maxLength: 500, description: 'Your own note.' }),
    event_types: Type.Array(EventTypeOrAll, { description: 'The event types delivered here; `["*"]` for all.' }),
    status: Type.Union([Type.Literal('enabled'), Type.Literal('failing')], {
      description: '`failing` once a delivery was given up after 24 hours of retries; back to `enabled` at the next successful delivery.',
    }),
    failing_since: NullableTimestamp('When the endpoint became failing, or null.'),
    created_at: Timestamp,
  },
  { additionalProperties: false, description: 'A webhook endpoint (never its signing secret).' },
);
export type WebhookEndpoint = Static<typeof WebhookEndpoint>;

export const CreatedWebhookEndpoint = Type.Object(
  {
    ...WebhookEndpoint.properties,
    secret: Type.String({
      maxLength: 100,
      description: 'The signing secret (`whsec_` + base64 key, per Standard Webhooks): shown in this response only.',
      examples: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    }),
  },
  { additionalProperties: false, description: 'A new webhook endpoint with its signing secret, shown this once.' },
);
export type CreatedWebhookEndpoint = Static<typeof CreatedWebhookEndpoint>;

export const CreateWebhookEndpointBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048, description: 'An `http` or `https` URL on a public address (unless `WEBHOOK_ALLOW_PRIVATE=true`).' }),
    event_types: Type.Optional(Type.Array(EventTypeOrAll, { minItems: 1, maxItems: 6, uniqueItems: true, description: 'Default `["*"]`.' })),
    description: Type.Optional(Type.String({ maxLength: 500, pattern: '^[^\\u0000-\\u001f\\u007f]*$', 'x-error-message': 'Must not contain control characters' })),
  },
  { additionalProperties: false },
);
export type CreateWebhookEndpointBody = Static<typeof CreateWebhookEndpointBody>;

export const WebhookEndpointIdParams = Type.Object({ id: Type.String({ maxLength: 64, description: 'Endpoint id.' }) }, { additionalProperties: false });
export type WebhookEndpointIdParams = Static<typeof WebhookEndpointIdParams>;

export const WebhookEndpointList = Type.Object({ data: Type.Array(WebhookEndpoint) }, { additionalProperties: false, description: 'Every webhook endpoint, oldest first.' });

export const DeliveryStatus = Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')], {
  description: '`pending` (queued or retrying), `succeeded` (acknowledged with a 2xx), `failed` (given up after 24 hours of retries).',
});

export const WebhookDelivery = Type.Object(
  {
    id: Type.String({ maxLength: 32, description: 'Delivery id.', examples: ['dlv_0a1b2c3d4e5f6g7h'] }),
    endpoint_id: Type.String({ maxLength: 32 }),
    event_id: Type.String({ maxLength: 32, description: 'The event delivered; its id is the `webhook-id` header.' }),
    event_type: Type.String({ maxLength: 64 }),
    user_id: Type.String({ maxLength: 64 }),
    status: DeliveryStatus,
    attempts: Type.Integer({ description: 'Attempts made so far.' }),
    next_attempt_at: NullableTimestamp('When the next attempt is due (pending only), else null.'),
    last_attempt_at: NullableTimestamp('When the last attempt was made, or null.'),
    last_response_status: Type.Union([Type.Integer(), Type.Null()], { description: 'HTTP status of the last attempt, or null when no response came.' }),
    last_latency_ms: Type.Union([Type.Integer(), Type.Null()], { description: 'Duration of the last attempt in milliseconds.' }),
    last_error: NullableString({ maxLength: 500, description: 'Why the last attempt failed, or null.' }),
    created_at: Timestamp,
    completed_at: NullableTimestamp('When it succeeded or was given up, or null.'),
  },
  { additionalProperties: false, description: 'The delivery of one event to one endpoint.' },
);

export const WebhookDeliveryList = Page(WebhookDelivery, 'A page of deliveries, oldest first.');

export const ListDeliveriesQuery = Type.Object({ limit: Type.Optional(Limit), cursor: Type.Optional(Cursor), status: Type.Optional(DeliveryStatus) }, { additionalProperties: false });
export type ListDeliveriesQuery = Static<typeof ListDeliveriesQuery>;

export const WebhookAttempt = Type.Object(
  {
    id: Type.String({ maxLength: 32, description: 'Attempt id.' }),
    delivery_id: Type.String({ maxLength: 32 }),
    event_id: Type.String({ maxLength: 32 }),
    attempted_at: Timestamp,
    response_status: Type.Union([Type.Integer(), Type.Null()], { description: 'HTTP status, or null when no response came.' }),
    latency_ms: Type.Integer({ description: 'Duration in milliseconds.' }),
    error: NullableString({ maxLength: 500, description: 'Why it failed (timeout, refused, HTTP status), or null.' }),
    succeeded: Type.Boolean(),
  },
  { additionalProperties: false, description: 'One HTTP attempt of a delivery.' },
);

export const WebhookAttemptList = Page(WebhookAttempt, 'A page of attempts, oldest first.');

export const ListAttemptsQuery = Type.Object({ limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) }, { additionalProperties: false });
export type ListAttemptsQuery = Static<typeof ListAttemptsQuery>;

export const DeliveryParams = Type.Object(
  { id: Type.String({ maxLength: 64, description: 'Endpoint id.' }), delivery_id: Type.String({ maxLength: 64, description: 'Delivery id.' }) },
  { additionalProperties: false },
);
export type DeliveryParams = Static<typeof DeliveryParams>;
