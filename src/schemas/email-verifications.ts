import Type, { type Static } from 'typebox';

export const ConfirmEmailBody = Type.Object(
  {
    token: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'The token from the verification email (the `token` parameter of its link).',
      examples: ['vt_Qm9ndXNUb2tlbkV4YW1wbGVPbmx5Tm90UmVhbEF0QWxs'],
    }),
  },
  { additionalProperties: false, description: 'A verification token.' },
);
export type ConfirmEmailBody = Static<typeof ConfirmEmailBody>;
