import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../schemas/common.js';
import { Event, EventIdParams, EventList, ListEventsQuery } from '../schemas/events.js';
import { UserIdParams } from '../schemas/users.js';
import type { EventService } from '../services/events.js';

const tags = ['Events'];
const security = [{ bearer: [] }];

function queryOf(q: ListEventsQuery) {
  return { limit: q.limit, cursor: q.cursor, type: q.type, createdAfter: q.created_after, createdBefore: q.created_before };
}

/** The audit trail: read-only by design, so there is no route that edits or deletes an event. */
export const eventsRoutes: FastifyPluginAsyncTypebox<{ events: EventService }> = async (app, { events }) => {
  app.get(
    '/v1/events',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listEvents',
        summary: 'List events',
        description:
          'Every recorded change, oldest first, a page at a time (keyset pagination, as `GET /v1/users`). Filter by `type` (one or a comma-separated list) and time. ' +
          'Events are never edited or deleted; a deleted user’s events keep what happened, when and by whom, with personal values erased.',
        tags,
        security,
        querystring: ListEventsQuery,
        response: { 200: EventList, ...errorResponses([400]) },
      },
    },
    async (request) => events.list(queryOf(request.query)),
  );

  app.get(
    '/v1/events/:event_id',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getEvent',
        summary: 'Retrieve an event',
        description: 'One event by id (the `webhook-id` of its deliveries).',
        tags,
        security,
        params: EventIdParams,
        response: { 200: Event, ...errorResponses([400, 404], { messages: { 404: 'Event not found' } }) },
      },
    },
    async (request) => events.get(request.params.event_id),
  );

  app.get(
    '/v1/users/:user_id/events',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listUserEvents',
        summary: "List a user's events",
        description: "The audit trail of one user, oldest first, with the same paging and filters as `GET /v1/events`. It stays available after the user is deleted. 404 for a user that never existed.",
        tags,
        security,
        params: UserIdParams,
        querystring: ListEventsQuery,
        response: { 200: EventList, ...errorResponses([400, 404], { messages: { 404: 'User not found' } }) },
      },
    },
    async (request) => events.listForUser(request.params.user_id, queryOf(request.query)),
  );
};
