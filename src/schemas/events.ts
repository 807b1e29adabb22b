import Type, { type Static } from 'typebox';
import { Cursor, Limit, NullableString, Page, Timestamp } from './common.js';

export const EventTypeName = Type.Union(
  [Type.Literal('user.created'), Type.Literal('user.updated'), Type.Literal('user.deleted'), Type.Literal('user.password_changed'), Type.Literal('user.email_verified')],
  { description: 'What happened.' },
);

export const Event = Type.Object(
  {
    id: Type.String({ maxLength: 32, description: 'Unique event id; also the `webhook-id` of its deliveries.', examples: ['evt_0a1b2c3d4e5f6g7h'] }),
    type: Type.String({ maxLength: 64, description: '`user.created`, `user.updated`, `user.deleted`, `user.password_changed` or `user.email_verified`.', examples: ['user.updated'] }),
    created_at: Timestamp,
    user_id: Type.String({ maxLength: 64, description: 'The user the event is about.', examples: ['usr_123abc456def'] }),
    actor: Type.Object(
      {
        type: Type.String({ maxLength: 32, description: '`api_key`, `oauth_client`, `cli` or `system`.', examples: ['api_key'] }),
        id: Type.String({ maxLength: 200, description: 'The API key id or OAuth client id that made the change.', examples: ['key_3k2j4h5g6f7d'] }),
      },
      { additionalProperties: false, description: 'Who made the change.' },
    ),
    request_id: NullableString({ maxLength: 128, description: 'The `X-Request-Id` of the request that made the change.' }),
    data: Type.Object(
      {},
      {
        additionalProperties: true,
        description:
          '`object`: the user after the change (`{id}` for a deletion); for `user.updated`, `previous_attributes`: the previous value of every changed field. ' +
          "Once the user is deleted, personal values here are null; the keys stay, so what changed stays known.",
      },
    ),
  },
  { additionalProperties: false, description: 'An event of the audit trail; never edited, never deleted.' },
);
export type Event = Static<typeof Event>;

export const EventList = Page(Event, 'A page of events, oldest first.');

export const ListEventsQuery = Type.Object(
  {
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
    type: Type.Optional(Type.String({ maxLength: 200, description: 'Only events of this type; several as a comma-separated list.', examples: ['user.created,user.deleted'] })),
    created_after: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Only events at or after this time.' })),
    created_before: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Only events before this time.' })),
  },
  { additionalProperties: false },
);
export type ListEventsQuery = Static<typeof ListEventsQuery>;

export const EventIdParams = Type.Object({ event_id: Type.String({ maxLength: 64, description: 'The event id.' }) }, { additionalProperties: false });
export type EventIdParams = Static<typeof EventIdParams>;
