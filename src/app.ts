import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Limiter } from './adapters/limiter.js';
import type { Config } from './config.js';
import { accessLog } from './http/access-log.js';
import { createBadUrlAnswer } from './http/bad-urls.js';
import { answerClientError } from './http/client-errors.js';
import { registerCors } from './http/cors.js';
import { authenticate, authorize } from './http/auth.js';
import { errorHandler } from './http/errors.js';
import { registerFallbacks } from './http/fallbacks.js';
import { idempotency, withIdempotencyKey } from './http/idempotency.js';
import { refuseUnexpectedBody, registerJsonBodies } from './http/json-body.js';
import { type LogStream, asyncStdout } from './http/log-destination.js';
import { requireOneHost } from './http/host-header.js';
import { createMetrics } from './http/metrics.js';
import { registerDocs, registerOpenApi } from './http/openapi.js';
import { rateLimit } from './http/rate-limit.js';
import { requestIdOf } from './http/request-id.js';
import { responseHeaders } from './http/response-headers.js';
import { rejectUnstorableText } from './http/text-guard.js';
import { createValidatorCompiler } from './http/validation.js';
import { apiKeysRoutes } from './routes/api-keys.js';
import { emailVerificationsRoutes } from './routes/email-verifications.js';
import { oauthClientsRoutes } from './routes/oauth-clients.js';
import { oauthRoutes } from './routes/oauth.js';
import { eventsRoutes } from './routes/events.js';
import { type ReadinessCheck, operationsRoutes } from './routes/operations.js';
import { passwordsRoutes } from './routes/passwords.js';
import { usersRoutes } from './routes/users.js';
import type { AccessTokenService } from './services/access-tokens.js';
import type { ApiKeyService } from './services/api-keys.js';
import type { Authenticator } from './services/auth.js';
import type { AuthFailureGuard } from './services/auth-failures.js';
import type { EmailVerificationService } from './services/email-verification.js';
import type { PasswordService } from './services/passwords.js';
import type { OAuthClientService } from './services/oauth-clients.js';
import type { SigningKeyService } from './services/signing-keys.js';
import { webhooksRoutes } from './routes/webhooks.js';
import type { EventService } from './services/events.js';
import type { IdempotencyService } from './services/idempotency.js';
import type { UserService } from './services/users.js';
import type { WebhookService } from './services/webhooks.js';

export interface AppServices {
  users: UserService;
  apiKeys: ApiKeyService;
  authenticator: Authenticator;
  authFailures: AuthFailureGuard;
  limiter: Limiter;
  readiness: ReadinessCheck[];
  passwords: PasswordService;
  emailVerifications: EmailVerificationService;
  oauthClients: OAuthClientService;
  accessTokens: AccessTokenService;
  signingKeys: SigningKeyService;
  events: EventService;
  webhooks: WebhookService;
  idempotency: IdempotencyService;
}

export interface AppOptions {
  config: Config;
  services: AppServices;
  /** A pino destination stream (tests capture logs); default stdout, written asynchronously. */
  logStream?: LogStream;
}

export const BODY_LIMIT = 64 * 1024;

const asArray = <T>(hooks: T | T[] | undefined): T[] => (hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]);

/** The whole request pipeline, in the order each request meets it. */
export async function buildApp({ config, services, logStream }: AppOptions): Promise<FastifyInstance> {
  const guards = [authenticate({ authenticator: services.authenticator, authFailures: services.authFailures }), rateLimit(services.limiter, config.rateLimitPerMinute), authorize];
  const badUrls = createBadUrlAnswer(guards);
  const app = Fastify({
    logger: { level: config.logLevel, stream: logStream ?? asyncStdout() },
    // One access-log line per request is written by http/access-log instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: requestIdOf,
    bodyLimit: BODY_LIMIT,
    // `__proto__` and `constructor` keys are kept as plain data (JSON.parse never makes them
    // prototypes); unknown fields are then rejected by the schemas, and metadata merges them safely.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    requestTimeout: config.requestTimeoutMs,
    // Slow clients: headers must arrive within HEADERS_TIMEOUT_MS, checked every second (Node's
    // default check runs every 30 s, which lets a trickling client hold a socket far longer).
    // Node refuses a headers timeout longer than the request timeout, hence the min.
    http: {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: Math.min(config.headersTimeoutMs, config.requestTimeoutMs),
      connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
      // http/host-header checks it instead, answering in the API's error body.
      requireHostHeader: false,
    },
    connectionTimeout: 60_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 200 },
    frameworkErrors: badUrls.frameworkErrors,
    clientErrorHandler: answerClientError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(createValidatorCompiler(config.roles));
  app.setErrorHandler(errorHandler(config.roles));
  registerJsonBodies(app);

  const metrics = createMetrics();
  app.addHook('onRequest', responseHeaders);
  app.addHook('onRequest', requireOneHost);
  await registerCors(app, config.corsOrigins);
  // Authentication, then the credential's rate limit, then the route's scope.
  for (const guard of guards) app.addHook('onRequest', guard);
  app.addHook('onRoute', badUrls.onRoute);
  app.addHook('preValidation', rejectUnstorableText);
  // A route that takes no body refuses one. Idempotency-Key: claimed after validation and before
  // the handler; the response kept on send. Only POST and PATCH take it, so only their routes
  // carry those hooks: the others skip them.
  const idempotent = idempotency(services.idempotency);
  app.addHook('onRoute', (route) => {
    if (!route.schema?.body && ['POST', 'PUT', 'PATCH', 'DELETE'].includes(String(route.method))) {
      route.preValidation = [...asArray(route.preValidation), refuseUnexpectedBody];
    }
    if (route.method !== 'POST' && route.method !== 'PATCH') return;
    if (route.config?.scope && route.config.idempotency !== false) route.schema = withIdempotencyKey(route.schema);
    route.preHandler = [...asArray(route.preHandler), idempotent.preHandler];
    route.onSend = [...asArray(route.onSend), idempotent.onSend];
  });
  app.addHook('onResponse', accessLog);
  app.addHook('onResponse', metrics.observe);

  registerFallbacks(app);
  await registerOpenApi(app, config);
  await app.register(usersRoutes, { users: services.users });
  await app.register(apiKeysRoutes, { apiKeys: services.apiKeys });
  await app.register(passwordsRoutes, { passwords: services.passwords });
  await app.register(emailVerificationsRoutes, { emailVerifications: services.emailVerifications });
  await app.register(oauthClientsRoutes, { oauthClients: services.oauthClients });
  await app.register(oauthRoutes, { accessTokens: services.accessTokens, signingKeys: services.signingKeys });
  await app.register(eventsRoutes, { events: services.events });
  await app.register(webhooksRoutes, { webhooks: services.webhooks });
  await app.register(operationsRoutes, { checks: services.readiness, metrics });
  await registerDocs(app);
  return app;
}
