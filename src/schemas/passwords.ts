import Type, { type Static } from 'typebox';

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

/** A new password: NIST SP 800-63B length rules, no composition rules. */
export const Password = Type.String({
  format: 'password',
  minLength: PASSWORD_MIN_LENGTH,
  maxLength: PASSWORD_MAX_LENGTH,
  writeOnly: true,
  description: `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters, any characters, not equal to the email or username (case-insensitively). Stored as an argon2id hash; never returned.`,
  examples: ['correct horse battery staple'],
});

export const SetPasswordBody = Type.Object({ password: Password }, { additionalProperties: false, description: 'The new password.' });
export type SetPasswordBody = Static<typeof SetPasswordBody>;

export const VerifyPasswordBody = Type.Object(
  {
    password: Type.String({
      format: 'password',
      minLength: 1,
      maxLength: PASSWORD_MAX_LENGTH,
      writeOnly: true,
      description: 'The password to check.',
      examples: ['correct horse battery staple'],
    }),
  },
  { additionalProperties: false, description: 'A password to check against the stored hash.' },
);
export type VerifyPasswordBody = Static<typeof VerifyPasswordBody>;

export const PasswordVerification = Type.Object(
  { valid: Type.Boolean({ description: 'Whether the password is the user’s; false also for a user without a password.' }) },
  { additionalProperties: false, description: 'The result of a password check.' },
);
export type PasswordVerification = Static<typeof PasswordVerification>;
