import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { contextOf } from '../http/auth.js';
import { etagOf } from '../http/etag.js';
import { errorResponses } from '../schemas/common.js';
import { ConfirmEmailBody } from '../schemas/email-verifications.js';
import { User, UserIdParams } from '../schemas/users.js';
import type { EmailVerificationService } from '../services/email-verification.js';

const tags = ['Email verification'];
const security = [{ bearer: [] }];

export const emailVerificationsRoutes: FastifyPluginAsyncTypebox<{ emailVerifications: EmailVerificationService }> = async (app, { emailVerifications }) => {
  app.post(
    '/v1/users/:user_id/verification-email',
    {
      config: { scope: 'write' },
      schema: {
        operationId: 'sendVerificationEmail',
        summary: 'Send a verification email',
        description:
          'Mails the user a one-time token, valid 24 hours and bound to the address, in a link under `PUBLIC_URL` (`/verify-email?token=…`). ' +
          'While an email change awaits confirmation (`pending_email`), the token goes to the new address. ' +
          'At most 3 per user per minute (429). Without `SMTP_URL` the message is written to the log; if the SMTP server cannot take it, 503 and nothing is stored.',
        tags,
        security,
        params: UserIdParams,
        response: { 202: { type: 'null', description: 'Sent (no body).' }, ...errorResponses([400, 404], { body: true, messages: { 404: 'User not found' } }) },
      },
    },
    async (request, reply) => {
      await emailVerifications.sendVerification(request.params.user_id);
      // 202 without a body: Fastify would serialize `null` as the text "null".
      return reply.code(202).send(undefined as unknown as null);
    },
  );

  app.post(
    '/v1/email-verifications',
    {
      config: { scope: 'write' },
      schema: {
        operationId: 'confirmEmail',
        summary: 'Confirm an email address',
        description:
          'Redeems a token from a verification email: the address becomes verified (or a pending change is committed, 409 if the address was taken meanwhile, ' +
          'and a notice goes to the old address) and the user is returned. A used, expired or unknown token, or one for an address the user no longer has, ' +
          'answers 400 with `details.token` saying which.',
        tags,
        security,
        body: ConfirmEmailBody,
        response: { 200: User, ...errorResponses([409], { body: true, messages: { 409: 'Email already taken' } }) },
      },
    },
    async (request, reply) => {
      const user = await emailVerifications.confirm(request.body.token, contextOf(request));
      reply.header('etag', etagOf(user));
      return user;
    },
  );
};
