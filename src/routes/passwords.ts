import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { contextOf } from '../http/auth.js';
import { normalizeBody } from '../http/text-normalization.js';
import { errorResponses } from '../schemas/common.js';
import { PasswordVerification, SetPasswordBody, VerifyPasswordBody } from '../schemas/passwords.js';
import { UserIdParams } from '../schemas/users.js';
import type { PasswordService } from '../services/passwords.js';

const tags = ['Passwords'];
const security = [{ bearer: [] }];

export const passwordsRoutes: FastifyPluginAsyncTypebox<{ passwords: PasswordService }> = async (app, { passwords }) => {
  app.put(
    '/v1/users/:user_id/password',
    {
      config: { scope: 'write' },
      schema: {
        operationId: 'setUserPassword',
        summary: "Set a user's password",
        description:
          'Sets (or replaces) the password: 8 to 256 characters, no composition rules, not equal to the email or username in any letter case. ' +
          'Stored as an argon2id hash, never returned. Changes `updated_at` and the `ETag`, and records `user.password_changed`.',
        tags,
        security,
        params: UserIdParams,
        body: SetPasswordBody,
        response: { 204: { type: 'null', description: 'Password set.' }, ...errorResponses([404], { body: true, messages: { 404: 'User not found' } }) },
      },
      preValidation: normalizeBody({ nfkc: ['password'] }),
    },
    async (request, reply) => {
      await passwords.set(request.params.user_id, request.body.password, contextOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/users/:user_id/password/verify',
    {
      config: { scope: 'write' },
      schema: {
        operationId: 'verifyUserPassword',
        summary: "Check a user's password",
        description:
          'Answers `{"valid": true}` if the password is the user\'s, else `{"valid": false}` (also for a user without a password, in the same time). ' +
          'After 10 failures within any 15 minutes, verification for that user answers 429, whatever credential is used, with `Retry-After` until the oldest of them is 15 minutes old.',
        tags,
        security,
        params: UserIdParams,
        body: VerifyPasswordBody,
        response: { 200: PasswordVerification, ...errorResponses([404], { body: true, messages: { 404: 'User not found' } }) },
      },
      // Its length is counted in the form it is checked in, as when it was set.
      preValidation: normalizeBody({ nfkc: ['password'] }),
    },
    async (request) => passwords.verify(request.params.user_id, request.body.password),
  );
};
