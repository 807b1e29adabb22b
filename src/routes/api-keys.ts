import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiKeyIdParams, ApiKeyList, CreateApiKeyBody, CreatedApiKey } from '../schemas/api-keys.js';
import { errorResponses } from '../schemas/common.js';
import type { ApiKeyService } from '../services/api-keys.js';

const tags = ['API keys'];
const security = [{ bearer: [] }];

export const apiKeysRoutes: FastifyPluginAsyncTypebox<{ apiKeys: ApiKeyService }> = async (app, { apiKeys }) => {
  app.post(
    '/v1/api-keys',
    {
      // The secret is stored only hashed: a response kept for Idempotency-Key replay would hold it in clear.
      config: { scope: 'admin', idempotency: false },
      schema: {
        operationId: 'createApiKey',
        summary: 'Create an API key',
        description: 'Mints an API key. Its `secret` is in this response only: it is stored as a hash and cannot be shown again.',
        tags,
        security,
        body: CreateApiKeyBody,
        response: { 201: CreatedApiKey, ...errorResponses([], { body: true }) },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const key = await apiKeys.create({ name: b.name, scopes: b.scopes, expiresInSeconds: b.expires_in, rateLimitPerMinute: b.rate_limit_per_minute });
      reply.code(201).header('location', `/v1/api-keys/${key.id}`);
      return key;
    },
  );

  app.get(
    '/v1/api-keys',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'listApiKeys',
        summary: 'List API keys',
        description: 'Every key not revoked, oldest first, without secrets.',
        tags,
        security,
        response: { 200: ApiKeyList, ...errorResponses([]) },
      },
    },
    async () => ({ data: await apiKeys.list() }),
  );

  app.delete(
    '/v1/api-keys/:id',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key',
        description: 'Revokes the key: it fails on its next use on this instance, and within 5 seconds on every other.',
        tags,
        security,
        params: ApiKeyIdParams,
        response: { 204: { type: 'null', description: 'Revoked.' }, ...errorResponses([400, 404], { body: true, messages: { 404: 'API key not found' } }) },
      },
    },
    async (request, reply) => {
      await apiKeys.revoke(request.params.id);
      return reply.code(204).send(null);
    },
  );
};
