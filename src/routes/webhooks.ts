import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../schemas/common.js';
import {
  CreateWebhookEndpointBody,
  CreatedWebhookEndpoint,
  DeliveryParams,
  ListAttemptsQuery,
  ListDeliveriesQuery,
  WebhookAttemptList,
  WebhookDelivery,
  WebhookDeliveryList,
  WebhookEndpoint,
  WebhookEndpointIdParams,
  WebhookEndpointList,
} from '../schemas/webhooks.js';
import type { WebhookService } from '../services/webhooks.js';

const tags = ['Webhooks'];
const security = [{ bearer: [] }];

export const webhooksRoutes: FastifyPluginAsyncTypebox<{ webhooks: WebhookService }> = async (app, { webhooks }) => {
  app.post(
    '/v1/webhook-endpoints',
    {
      // The signing secret is shown once: a response kept for Idempotency-Key replay would show it again.
      config: { scope: 'admin', idempotency: false },
      schema: {
        operationId: 'createWebhookEndpoint',
        summary: 'Create a webhook endpoint',
        description:
          'Registers a URL to receive events, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). ' +
          'The signing `secret` is in this response only. URLs on loopback or private addresses are refused (400) unless `WEBHOOK_ALLOW_PRIVATE=true`.',
        tags,
        security,
        body: CreateWebhookEndpointBody,
        response: { 201: CreatedWebhookEndpoint, ...errorResponses([], { body: true }) },
      },
    },
    async (request, reply) => {
      const endpoint = await webhooks.create(request.body);
      reply.code(201).header('location', `/v1/webhook-endpoints/${endpoint.id}`);
      return endpoint;
    },
  );

  app.get(
    '/v1/webhook-endpoints',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'listWebhookEndpoints',
        summary: 'List webhook endpoints',
        description: 'Every endpoint, oldest first, without secrets.',
        tags,
        security,
        response: { 200: WebhookEndpointList, ...errorResponses([]) },
      },
    },
    async () => ({ data: await webhooks.list() }),
  );

  app.get(
    '/v1/webhook-endpoints/:id',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'getWebhookEndpoint',
        summary: 'Retrieve a webhook endpoint',
        description: 'The endpoint with its `status` (`failing` once a delivery was given up), without its secret.',
        tags,
        security,
        params: WebhookEndpointIdParams,
        response: { 200: WebhookEndpoint, ...errorResponses([400, 404], { messages: { 404: 'Webhook endpoint not found' } }) },
      },
    },
    async (request) => webhooks.get(request.params.id),
  );

  app.delete(
    '/v1/webhook-endpoints/:id',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'deleteWebhookEndpoint',
        summary: 'Delete a webhook endpoint',
        description: 'Stops deliveries to the endpoint, including those still pending.',
        tags,
        security,
        params: WebhookEndpointIdParams,
        response: { 204: { type: 'null', description: 'Deleted.' }, ...errorResponses([400, 404], { body: true, messages: { 404: 'Webhook endpoint not found' } }) },
      },
    },
    async (request, reply) => {
      await webhooks.delete(request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/webhook-endpoints/:id/deliveries',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'listWebhookDeliveries',
        summary: 'List deliveries of an endpoint',
        description: 'One delivery per event sent to the endpoint, oldest first, with its status and the outcome of its last attempt; filter by `status`.',
        tags,
        security,
        params: WebhookEndpointIdParams,
        querystring: ListDeliveriesQuery,
        response: { 200: WebhookDeliveryList, ...errorResponses([400, 404], { messages: { 404: 'Webhook endpoint not found' } }) },
      },
    },
    async (request) => webhooks.listDeliveries(request.params.id, request.query),
  );

  app.get(
    '/v1/webhook-endpoints/:id/attempts',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'listWebhookAttempts',
        summary: 'List delivery attempts of an endpoint',
        description: 'Every HTTP attempt made to the endpoint, oldest first: response status, latency and error.',
        tags,
        security,
        params: WebhookEndpointIdParams,
        querystring: ListAttemptsQuery,
        response: { 200: WebhookAttemptList, ...errorResponses([400, 404], { messages: { 404: 'Webhook endpoint not found' } }) },
      },
    },
    async (request) => webhooks.listAttempts(request.params.id, request.query),
  );

  app.post(
    '/v1/webhook-endpoints/:id/deliveries/:delivery_id/retry',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'retryWebhookDelivery',
        summary: 'Redeliver an event',
        description:
          'Puts a finished delivery (typically `failed`) back in line with a fresh 24-hour retry window whose backoff restarts at the base delay (`attempts` keeps counting every attempt); it is sent before the same user’s later pending events. 409 if it is still pending.',
        tags,
        security,
        params: DeliveryParams,
        response: { 202: WebhookDelivery, ...errorResponses([400, 404, 409], { body: true, messages: { 404: 'Delivery not found', 409: 'Delivery is already pending' } }) },
      },
    },
    async (request, reply) => {
      const delivery = await webhooks.retryDelivery(request.params.id, request.params.delivery_id);
      reply.code(202);
      return delivery;
    },
  );
};
