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

/**
 * RFC 6749 §5.2: an error_description holds only %x20-21 / %x23-5B / %x5D-7E, printable ASCII
 * without `"` and `\`. A double quote becomes a single one; anything else outside the set (a
 * caller's text echoed in the message, say) becomes `?`.
 */
export function asErrorDescription(text: string): string {
  return text.replaceAll('"', "'").replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?');
}

export class OAuthError extends Error {
  readonly status: number;
  readonly description: string;

  constructor(
    readonly code: OAuthErrorCode,
    description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.status = statusOf[code];
    this.description = asErrorDescription(description);
  }
}
