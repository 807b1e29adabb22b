import Type, { type Static } from 'typebox';
import { Cursor, Limit, NullableString, Page, Timestamp } from './common.js';
import { Password } from './passwords.js';

export const USERNAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]*$';
export const METADATA_MAX_BYTES = 8192;
export const METADATA_MAX_DEPTH = 32;
// No C0/C1 control characters (tab and newline included): names are single-line display text.
const NO_CONTROL_CHARACTERS = '^[^\\u0000-\\u001f\\u007f-\\u009f]*$';

const Email = Type.String({
  format: 'email',
  maxLength: 254,
  description: 'Email address; unique, compared case-insensitively.',
  examples: ['newemail@example.com'],
});

const Username = Type.String({
  minLength: 3,
  maxLength: 32,
  pattern: USERNAME_PATTERN,
  'x-error-message': "Must contain only letters, digits, '_', '.' and '-', and start with a letter or digit",
  description: "3 to 32 of `A-Z a-z 0-9 _ . -`, starting with a letter or digit; unique, compared case-insensitively.",
  examples: ['newusername'],
});

const Name = (what: string, example: string) =>
  NullableString({
    maxLength: 100,
    pattern: NO_CONTROL_CHARACTERS,
    'x-error-message': 'Must not contain control characters',
    description: `${what}: up to 100 characters, stored NFC-normalized, or null.`,
    examples: [example],
  });

const Role = Type.String({ format: 'role', maxLength: 32, description: 'One of the configured roles (`ROLES`, default `admin,member,viewer`).', examples: ['admin'] });

const Metadata = Type.Object(
  {},
  {
    additionalProperties: true,
    'x-max-bytes': METADATA_MAX_BYTES,
    'x-max-depth': METADATA_MAX_DEPTH,
    description: "The application's own attributes: a JSON object of at most 8 KiB serialized, nesting at most 32 levels deep. PATCH merges it per RFC 7396 (a key set to null is removed).",
    examples: [{ plan: 'pro' }],
  },
);

const { 'x-max-bytes': _resultBound, ...metadataPatch } = Metadata as typeof Metadata & { 'x-max-bytes': number };

export const User = Type.Object(
  {
    id: Type.String({ maxLength: 16, pattern: '^usr_[a-z0-9]{12}$', description: 'Unique identifier.', examples: ['usr_123abc456def'] }),
    email: Email,
    username: Username,
    first_name: Name('First name', 'Jane'),
    last_name: Name('Last name', 'Smith'),
    role: Role,
    email_verified: Type.Boolean({ description: 'False whenever the email is set or changed, until verified.' }),
    pending_email: Type.Optional(
      Type.String({
        format: 'email',
        maxLength: 254,
        description: 'Only with `EMAIL_CHANGE_VERIFICATION=required` and only while a change awaits confirmation: the new address, which becomes `email` once confirmed.',
        examples: ['newemail@example.com'],
      }),
    ),
    metadata: Metadata,
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { additionalProperties: false, description: 'A user.' },
);
export type User = Static<typeof User>;

export const CreateUserBody = Type.Object(
  {
    email: Email,
    username: Username,
    first_name: Type.Optional(Name('First name', 'Jane')),
    last_name: Type.Optional(Name('Last name', 'Smith')),
    role: Type.Optional(Role),
    metadata: Type.Optional(Metadata),
    password: Type.Optional(Password),
  },
  {
    additionalProperties: false,
    // The password may not be the email or username (http/validation.ts).
    'x-password-policy': true,
    'x-field-messages': {
      id: 'Field is read-only',
      created_at: 'Field is read-only',
      updated_at: 'Field is read-only',
      email_verified: 'Field is read-only; verify an address with POST /v1/email-verifications',
    },
  },
);
export type CreateUserBody = Static<typeof CreateUserBody>;

export const UpdateUserBody = Type.Object(
  {
    email: Type.Optional(Email),
    username: Type.Optional(Username),
    first_name: Type.Optional(Name('New first name', 'Jane')),
    last_name: Type.Optional(Name('New last name', 'Smith')),
    role: Type.Optional(Role),
    // The 8 KiB bound is on the merged result, checked by the service: a patch that removes keys
    // may be larger than what it leaves. What it adds is checked here, beside the other fields.
    metadata: Type.Optional(
      Type.Unsafe<Record<string, unknown> | null>({
        ...metadataPatch,
        'x-max-merged-bytes': METADATA_MAX_BYTES,
        type: ['object', 'null'],
        description: 'Merged into the stored metadata per RFC 7396; null clears it. The merged result must be at most 8 KiB serialized.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Every field is optional; only the fields given change.',
    'x-field-messages': {
      id: 'Field is read-only',
      created_at: 'Field is read-only',
      updated_at: 'Field is read-only',
      email_verified: 'Field is read-only; verify an address with POST /v1/email-verifications',
      password: 'Passwords are changed with PUT /v1/users/{user_id}/password',
    },
  },
);
export type UpdateUserBody = Static<typeof UpdateUserBody>;

export const UserIdParams = Type.Object(
  { user_id: Type.String({ maxLength: 64, description: 'The unique identifier of the user.', examples: ['usr_123abc456def'] }) },
  { additionalProperties: false },
);
export type UserIdParams = Static<typeof UserIdParams>;

export const ListUsersQuery = Type.Object(
  {
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
    email: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'Exact email, case-insensitive.' })),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: 'Exact username, case-insensitive.' })),
    role: Type.Optional(Type.String({ format: 'role', maxLength: 32, description: 'Exact role; one of the configured roles.' })),
    // As long as the longest field it searches, the email.
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'Case-insensitive prefix of the email, username, first or last name.' })),
    created_after: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Only users created at or after this time.' })),
    created_before: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Only users created before this time.' })),
  },
  { additionalProperties: false },
);
export type ListUsersQuery = Static<typeof ListUsersQuery>;

export const UserList = Page(User, 'A page of users, oldest first.');
