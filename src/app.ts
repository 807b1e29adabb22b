import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Limiter } from './adapters/limiter.js';
import type { Config } from './config.js';
import { accessLog } from './http/access-log.js';
import { authenticate, authorize } from './http/auth.js';
import { errorHandler, frameworkErrorHandler } from './http/errors.js';
import { registerFallbacks } from './http/fallbacks.js';
import { createMetrics } from './http/metrics.js';
import { registerDocs, registerOpenApi } from './http/openapi.js';
import { rateLimit } from './http/rate-limit.js';
import { requestIdOf } from './http/request-id.js';
import { responseHeaders } from './http/response-headers.js';
import { rejectUnstorableText } from './http/text-safety.js';
import { createValidatorCompiler } from './http/validation.js';
import { apiKeysRoutes } from './routes/api-keys.js';
import { type ReadinessCheck, operationsRoutes } from './routes/operations.js';
import { usersRoutes } from './routes/users.js';
import type { ApiKeyService } from './services/api-keys.js';
import type { Authenticator } from './services/auth.js';
import type { UserService } from './services/users.js';

export interface AppServices {
  users: UserService;
  apiKeys: ApiKeyService;
  authenticator: Authenticator;
  limiter: Limiter;
  readiness: ReadinessCheck[];
}

export interface AppOptions {
  config: Config;
  services: AppServices;
  /** A pino destination stream (tests capture logs); default stdout. */
  logStream?: NodeJS.WritableStream;
}

export const BODY_LIMIT = 64 * 1024;

/** The whole request pipeline, in the order each request meets it. */
export async function buildApp({ config, services, logStream }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: config.logLevel, ...(logStream ? { stream: logStream } : {}) },
    // One access-log line per request is written by http/access-log instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: requestIdOf,
    bodyLimit: BODY_LIMIT,
    // `__proto__` and `constructor` keys are kept as plain data (JSON.parse never makes them
    // prototypes); unknown fields are then rejected by the schemas, and metadata merges them safely.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 200 },
    frameworkErrors: frameworkErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(createValidatorCompiler(config.roles));
  app.setErrorHandler(errorHandler(config.roles));
  // PATCH bodies may be labelled as what they are: a JSON Merge Patch (RFC 7396).
  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'string' }, app.getDefaultJsonParser('ignore', 'ignore'));
  // Fastify reads text/plain by default; this API takes JSON only, so such a body is a 415.
  app.removeContentTypeParser('text/plain');

  const metrics = createMetrics();
  app.addHook('onRequest', responseHeaders);
  app.addHook('onRequest', authenticate({ authenticator: services.authenticator, limiter: services.limiter, failuresPerMinute: config.authFailuresPerMinute }));
  app.addHook('onRequest', rateLimit(services.limiter, config.rateLimitPerMinute));
  app.addHook('onRequest', authorize);
  app.addHook('preValidation', rejectUnstorableText);
  app.addHook('onResponse', accessLog);
  app.addHook('onResponse', metrics.observe);

  registerFallbacks(app);
  await registerOpenApi(app, config);
  await app.register(usersRoutes, { users: services.users });
  await app.register(apiKeysRoutes, { apiKeys: services.apiKeys });
  await app.register(operationsRoutes, { checks: services.readiness, metrics });
  await registerDocs(app);
  return app;
}
