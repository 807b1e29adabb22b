/**
 * The error of the token endpoint, which alone answers in RFC 6749 §5.2's format
 * (`{"error", "error_description"}`) instead of the API's, because OAuth client libraries parse it.
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_scope'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'rate_limit_exceeded'
  | 'server_error'
  // RFC 6749 §4.1.2.1 names it for the authorization endpoint; token endpoints use it alike.
  | 'temporarily_unavailable';

const statusOf: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  invalid_scope: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  rate_limit_exceeded: 429,
  server_error: 500,
  temporarily_unavailable: 503,
};

export class OAuthError extends Error {
  readonly status: number;

  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.status = statusOf[code];
  }
}
