import type { Generated } from 'kysely';

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
  /** TEXT on SQLite, jsonb on PostgreSQL (already parsed by the driver). */
  metadata: string | Record<string, unknown>;
  /** Bumped by every change: the user's ETag and the guard of If-Match. */
  version: number;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
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
  id: string;
  type: string;
  user_id: string;
  actor_kind: string;
  actor_id: string;
  request_id: string | null;
  /** TEXT on SQLite, jsonb on PostgreSQL. */
  data: string | Record<string, unknown>;
  created_at: string;
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

export interface Tables {
  users: UsersTable;
  api_keys: ApiKeysTable;
  events: EventsTable;
  oauth_clients: OAuthClientsTable;
  signing_keys: SigningKeysTable;
}
