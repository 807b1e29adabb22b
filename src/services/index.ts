import type { Invalidations } from '../adapters/invalidations.js';
import type { Limiter } from '../adapters/limiter.js';
import { type LoggedMail, createMailer } from '../adapters/mailer.js';
import { createArgon2Hasher } from '../adapters/password-hasher.js';
import type { Config } from '../config.js';
import type { Store } from '../store/index.js';
import { createAccessTokenService, createJwtVerifier } from './access-tokens.js';
import { createApiKeyService } from './api-keys.js';
import { createAuthenticator } from './auth.js';
import { createAuthFailureGuard } from './auth-failures.js';
import { createEmailVerificationService } from './email-verification.js';
import { createPasswordService } from './passwords.js';
import { createExternalTokenVerifier } from './external-tokens.js';
import { createOAuthClientService } from './oauth-clients.js';
import { createSigningKeyService } from './signing-keys.js';
import { createEventService } from './events.js';
import { createIdempotencyService } from './idempotency.js';
import { createUserService } from './users.js';
import { createWebhookService } from './webhooks.js';

export interface ServiceDeps {
  config: Config;
  store: Store;
  limiter: Limiter;
  /** Announces revocations to every instance (Redis pub/sub); absent: this process only. */
  invalidations?: Invalidations;
  onError: (err: unknown, what: string) => void;
  /** Where mail goes without SMTP_URL (the server's log). */
  logMail?: (mail: LoggedMail) => void;
}

/** Every domain service, wired to its dependencies; shared by the server, the CLI and tests. */
export function createServices({ config, store, limiter, invalidations, onError, logMail }: ServiceDeps) {
  const apiKeys = createApiKeyService({ store, invalidations, onError });
  const hasher = createArgon2Hasher();
  const passwords = createPasswordService({ store, hasher });
  const mailer = createMailer({ smtpUrl: config.smtpUrl, from: config.emailFrom, log: logMail ?? (() => {}) });
  const emailVerifications = createEmailVerificationService({ store, config, limiter, mailer, onError });
  const users = createUserService({ store, config, passwords, emailChanges: emailVerifications });
  const oauthClients = createOAuthClientService({ store, invalidations, onError });
  const signingKeys = createSigningKeyService({ store });
  const authFailures = createAuthFailureGuard({ limiter, failuresPerMinute: config.authFailuresPerMinute });
  const accessTokens = createAccessTokenService({ config, limiter, authFailures, clients: oauthClients, signingKeys });
  const external = config.oauthIssuer
    ? [createExternalTokenVerifier({ issuer: config.oauthIssuer, audience: config.oauthAudience ?? config.publicUrl, jwksUrl: config.oauthJwksUrl, jwksCooldownSeconds: config.oauthJwksCooldownSeconds })]
    : [];
  const authenticator = createAuthenticator([apiKeys.verifier, createJwtVerifier([accessTokens.builtIn, ...external])]);
  const events = createEventService({ store });
  const webhooks = createWebhookService({ store, config });
  const idempotency = createIdempotencyService({ store, hasher });
  return { users, apiKeys, authenticator, authFailures, passwords, emailVerifications, oauthClients, signingKeys, accessTokens, events, webhooks, idempotency };
}

export type Services = ReturnType<typeof createServices>;
