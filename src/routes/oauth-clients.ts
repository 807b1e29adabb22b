import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../schemas/common.js';
import { CreateOAuthClientBody, CreatedOAuthClient, OAuthClientIdParams, OAuthClientList } from '../schemas/oauth-clients.js';
import type { OAuthClientService } from '../services/oauth-clients.js';

const tags = ['OAuth clients'];
const security = [{ bearer: [] }];

export const oauthClientsRoutes: FastifyPluginAsyncTypebox<{ oauthClients: OAuthClientService }> = async (app, { oauthClients }) => {
  app.post(
    '/v1/oauth-clients',
    {
      config: { scope: 'admin', idempotency: false },
      schema: {
        operationId: 'createOAuthClient',
        summary: 'Create an OAuth client',
        description:
          'Registers a client of the client-credentials grant (`POST /oauth/token`). Its `client_secret` is in this response only: it is stored as a hash and cannot be shown again.',
        tags,
        security,
        body: CreateOAuthClientBody,
        response: { 201: CreatedOAuthClient, ...errorResponses([], { body: true }) },
      },
    },
    async (request, reply) => {
      const client = await oauthClients.create({ name: request.body.name, scopes: request.body.scopes });
      reply.code(201).header('location', `/v1/oauth-clients/${client.client_id}`);
      return client;
    },
  );

  app.get(
    '/v1/oauth-clients',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'listOAuthClients',
        summary: 'List OAuth clients',
        description: 'Every client not revoked, oldest first, without secrets.',
        tags,
        security,
        response: { 200: OAuthClientList, ...errorResponses([]) },
      },
    },
    async () => ({ data: await oauthClients.list() }),
  );

  app.delete(
    '/v1/oauth-clients/:id',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'revokeOAuthClient',
        summary: 'Revoke an OAuth client',
        description: 'Revokes the client: it gets no more tokens, and the tokens it holds fail at once on this instance and within 5 seconds on every other.',
        tags,
        security,
        params: OAuthClientIdParams,
        response: { 204: { type: 'null', description: 'Revoked.' }, ...errorResponses([400, 404], { body: true, messages: { 404: 'OAuth client not found' } }) },
      },
    },
    async (request, reply) => {
      await oauthClients.revoke(request.params.id);
      return reply.code(204).send(null);
    },
  );
};
