import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { contextOf } from '../http/auth.js';
import { etagOf, ifMatches, ifNoneMatches } from '../http/etag.js';
import { normalizeBody } from '../http/text-normalization.js';
import { errorResponses } from '../schemas/common.js';
import { CreateUserBody, ListUsersQuery, UpdateUserBody, User, UserIdParams, UserList } from '../schemas/users.js';
import type { UserService } from '../services/users.js';

const tags = ['Users'];
const security = [{ bearer: [] }];

const NAMES_AND_EMAIL = ['email', 'first_name', 'last_name'];

export const usersRoutes: FastifyPluginAsyncTypebox<{ users: UserService }> = async (app, { users }) => {
  app.post(
    '/v1/users',
    {
      config: { scope: 'write' },
      schema: {
        operationId: 'createUser',
        summary: 'Create a user',
        description: 'Creates a user. `email` and `username` are required and unique (case-insensitively); `role` defaults to `DEFAULT_ROLE`.',
        tags,
        security,
        body: CreateUserBody,
        response: { 201: User, ...errorResponses([409], { body: true, messages: { 409: 'Email already taken' } }) },
      },
      preValidation: normalizeBody({ nfc: NAMES_AND_EMAIL, nfkc: ['password'] }),
    },
    async (request, reply) => {
      const user = await users.create(request.body, contextOf(request));
      reply.code(201).header('location', `/v1/users/${user.id}`).header('etag', etagOf(user));
      return user;
    },
  );

  app.get(
    '/v1/users/:user_id',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getUser',
        summary: 'Retrieve a user',
        description: 'Returns the user with its `ETag`. With a matching `If-None-Match`, answers 304 without a body.',
        tags,
        security,
        params: UserIdParams,
        response: { 200: User, 304: { type: 'null', description: 'Not modified (If-None-Match matched).' }, ...errorResponses([400, 404], { messages: { 404: 'User not found' } }) },
      },
    },
    async (request, reply) => {
      const user = await users.get(request.params.user_id);
      const etag = etagOf(user);
      reply.header('etag', etag);
      const noneMatch = request.headers['if-none-match'];
      // Sent without a payload (not even the schema's null, which serializes as "null"), so it
      // carries no Content-Length or Content-Type for a body that a 304 never has.
      if (noneMatch && ifNoneMatches(noneMatch, etag)) return (reply as FastifyReply).code(304).removeHeader('content-type').send();
      return user;
    },
  );

  app.get(
    '/v1/users',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listUsers',
        summary: 'List users',
        description: 'Users oldest first, a page at a time (keyset pagination: every page costs the same; rows changed between pages are neither skipped nor repeated).',
        tags,
        security,
        querystring: ListUsersQuery,
        response: { 200: UserList, ...errorResponses([400]) },
      },
    },
    async (request) => {
      const q = request.query;
      return users.list({
        limit: q.limit,
        cursor: q.cursor,
        email: q.email,
        username: q.username,
        role: q.role,
        q: q.q,
        createdAfter: q.created_after,
        createdBefore: q.created_before,
      });
    },
  );

  app.patch(
    '/v1/users/:user_id',
    {
      config: { scope: 'write' },
      schema: {
        operationId: 'updateUser',
        summary: 'Update a user',
        description:
          "Updates an existing user's information. All fields are optional: only the fields given change, and `{}` changes nothing. " +
          '`metadata` is merged per RFC 7396. Accepts `application/json` and `application/merge-patch+json`. ' +
          'With `If-Match`, answers 412 unless the ETag is current. Passwords are changed with `PUT /v1/users/{user_id}/password`.',
        tags,
        security,
        params: UserIdParams,
        consumes: ['application/json', 'application/merge-patch+json'],
        body: UpdateUserBody,
        response: { 200: User, ...errorResponses([404, 409, 412], { body: true, messages: { 404: 'User not found', 409: 'Username already taken' } }) },
      },
      preValidation: normalizeBody({ nfc: NAMES_AND_EMAIL }),
    },
    async (request, reply) => {
      const ifMatch = request.headers['if-match'];
      const user = await users.update(request.params.user_id, request.body, contextOf(request), {
        precondition: ifMatch === undefined ? undefined : (current) => ifMatches(ifMatch, etagOf(current)),
      });
      reply.header('etag', etagOf(user));
      return user;
    },
  );

  app.delete(
    '/v1/users/:user_id',
    {
      config: { scope: 'write' },
      schema: {
        operationId: 'deleteUser',
        summary: 'Delete a user',
        description:
          'Deletes the user: it then answers 404, and its email and username are free again. Its id is never reused. Its personal values are erased from its events and from responses kept for `Idempotency-Key` retries. ' +
          'With `If-Match`, answers 412 unless the ETag is current.',
        tags,
        security,
        params: UserIdParams,
        response: { 204: { type: 'null', description: 'Deleted.' }, ...errorResponses([400, 404, 412], { body: true, messages: { 404: 'User not found' } }) },
      },
    },
    async (request, reply) => {
      const ifMatch = request.headers['if-match'];
      await users.delete(request.params.user_id, contextOf(request), {
        precondition: ifMatch === undefined ? undefined : (current) => ifMatches(ifMatch, etagOf(current)),
      });
      return reply.code(204).send(null);
    },
  );
};
