import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';

/**
 * The OpenAPI 3.1 document is generated from the route schemas, the same that validate
 * requests and serialize replies. Registered before the routes so it sees each one.
 */
export async function registerOpenApi(app: FastifyInstance, config: Config): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Roster Users API',
        version: '1',
        description: 'Create, read, update, list and delete the users of your application, with an API key or an OAuth 2.0 token.',
      },
      servers: [{ url: config.publicUrl }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API key (`rk_…`) or an OAuth 2.0 access token.' },
          clientBasic: { type: 'http', scheme: 'basic', description: 'OAuth client id and secret (`client_secret_basic`), for `POST /oauth/token` only.' },
        },
      },
      security: [{ bearer: [] }],
    },
  });
}

/** `GET /openapi.json` and the interactive reference at `/docs`, its assets served from node_modules. */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // No call to the public validator service: the machine may have no internet.
    validatorUrl: false,
    uiConfig: { deepLinking: true, tryItOutEnabled: true },
  });
}
