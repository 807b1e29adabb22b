import type { ColumnType, Generated } from 'kysely';

/** Column types as each driver returns them; dialect differences are resolved in the mappers. */
export interface UsersTable {
  /** Internal, monotonically increasing: the order of the list and the key of its cursors. */
  seq: Generated<number>;
  id: string;
  /** Null only on a deleted user's tombstone, which keeps the id from ever being reused. */
  email: string | null;
  /** Lower-cased email: the unique index that makes email case-insensitively unique. */
  email_key: string | null;
  username: string | null;
  username_key: string | null;
  first_name: string | null;
  last_name: string | null;
  /** Lower-cased names, for the `q` prefix search identically on both dialects. */
  first_name_key: string | null;
  last_name_key: string | null;
  role: string | null;
  /** 0/1 on SQLite, boolean on PostgreSQL. */
  email_verified: number | boolean;
  /** TEXT on SQLite, json on PostgreSQL (already parsed by the driver), both kept as written. */
  metadata: string | Record<string, unknown>;
  /** Bumped by every change: the user's ETag and the guard of If-Match. */
  version: number;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  /** argon2id PHC string; never leaves store/passwords.ts. */
  password_hash: string | null;
  /** With EMAIL_CHANGE_VERIFICATION=required: the new address awaiting confirmation. */
  pending_email: string | null;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  secret_hash: string;
  /** Space-separated, as in OAuth. */
  scopes: string;
  rate_limit_per_minute: number | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface EventsTable {
  /** Internal order of events: the key of their cursors. */
  seq: Generated<number>;
  /** PostgreSQL only: the writing transaction's id (xid8, as text), the first key of the feed's order. */
  tx?: ColumnType<string, never, never>;
  id: string;
  type: string;
  user_id: string;
  actor_kind: string;
  actor_id: string;
  request_id: string | null;
  /** TEXT on SQLite, json on PostgreSQL, both kept as written. */
  data: string | Record<string, unknown>;
  created_at: string;
}

export interface EmailVerificationTokensTable {
  id: string;
  /** SHA-256 (hex) of the token; the token itself is never stored. */
  token_hash: string;
  user_id: string;
  /** The lower-cased address the token is bound to. */
  email_key: string;
  purpose: 'verify' | 'change';
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export interface OAuthClientsTable {
  id: string;
  name: string;
  secret_hash: string;
  /** Space-separated, as in OAuth. */
  scopes: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface SigningKeysTable {
  id: string;
  algorithm: string;
  private_jwk: string;
  public_jwk: string;
  created_at: string;
  retired_at: string | null;
  publish_until: string | null;
}

export interface WebhookEndpointsTable {
  id: string;
  url: string;
  description: string | null;
  /** Space-separated event types, or `*` for all. */
  event_types: string;
  secret: string;
  /** `enabled`, or `failing` once a delivery was given up (until one succeeds again). */
  status: string;
  failing_since: string | null;
  created_at: string;
  deleted_at: string | null;
}

export interface WebhookDeliveriesTable {
  /** Internal order: within one (endpoint, user) the order of the events. */
  seq: Generated<number>;
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  user_id: string;
  /** `pending`, `succeeded` or `failed` (given up). */
  status: string;
  /** Every attempt ever made, across retry windows. */
  attempts: number;
  /** Attempts in the current retry window: what the backoff is computed from. */
  window_attempts: number;
  /** Epoch milliseconds. */
  next_attempt_at: number;
  /** Epoch milliseconds; a claimed delivery is not claimed again before. */
  locked_until: number;
  claim_token: string | null;
  /** Epoch milliseconds: when the current retry window (24 hours) began. */
  window_started_at: number;
  last_attempt_at: string | null;
  last_response_status: number | null;
  last_latency_ms: number | null;
  last_error: string | null;
  created_at: string;
  completed_at: string | null;
}

export interface WebhookAttemptsTable {
  seq: Generated<number>;
  id: string;
  delivery_id: string;
  endpoint_id: string;
  event_id: string;
  attempted_at: string;
  response_status: number | null;
  latency_ms: number;
  error: string | null;
  /** 0/1. */
  succeeded: number;
}

export interface IdempotencyKeysTable {
  principal_id: string;
  key: string;
  /** SHA-256 of method, path and canonical body. */
  fingerprint: string;
  /** `in_flight` or `done`. */
  state: string;
  /** Epoch milliseconds: an in-flight claim older than this was abandoned (crash) and may be taken over. */
  locked_until: number;
  response_status: number | null;
  /** JSON object of the replayed headers. */
  response_headers: string | null;
  response_body: string | null;
  /** The user a kept response holds, erased with it when the user is deleted; null for any other response. */
  user_id: string | null;
  created_at: number;
  expires_at: number;
}

export interface PasswordFailuresTable {
  id: Generated<number>;
  user_id: string;
  /** Epoch milliseconds of the failed check (or of one under way: see the password service). */
  failed_at: number;
}

export interface Tables {
  users: UsersTable;
  api_keys: ApiKeysTable;
  events: EventsTable;
  email_verification_tokens: EmailVerificationTokensTable;
  oauth_clients: OAuthClientsTable;
  signing_keys: SigningKeysTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  idempotency_keys: IdempotencyKeysTable;
  password_failures: PasswordFailuresTable;
}
