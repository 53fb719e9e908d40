/**
 * Cronofy's OAuth token endpoint as Organization Connect uses it
 * (https://docs.cronofy.com/developers/api/organization-connect/): the port the tenant use cases call, and
 * its typed failures. HTTP adapter: oauth-client.ts. Messages carry status codes only: never a token, a code or
 * a body.
 */

export interface OAuthTokens {
  accessToken: string;
  /** Cronofy's answer may leave it out on a refresh: the caller keeps the one it has. */
  refreshToken?: string;
  /** Seconds the access token lasts. */
  expiresIn: number;
  /**
   * The authorizing Organizational Unit's id, when the answer carries a string `sub` (UNCONFIRMED that it does):
   * tells two consents of the same OU, which may share one authorization at Cronofy, from two of different OUs.
   */
  sub?: string;
}

export interface CronofyOAuth {
  /** `grant_type=authorization_code`: the code Cronofy sent to the callback, and the same redirect_uri. */
  exchangeCode(code: string, redirectUri: string): Promise<OAuthTokens>;
  /** `grant_type=refresh_token`. */
  refresh(refreshToken: string): Promise<OAuthTokens>;
  /** `POST /oauth/token/revoke`, retried within its budget. */
  revoke(token: string): Promise<void>;
}

/**
 * Cronofy refused the grant (a `400` from the token endpoint, RFC 6749 `invalid_grant` and the like): the code
 * was bad or used, or the refresh token was revoked. Not worth retrying.
 */
export class OAuthGrantRejectedError extends Error {
  override readonly name = 'OAuthGrantRejectedError';
  constructor(readonly status: number) {
    super(`Cronofy refused the grant (${status})`);
  }
}

/** Cronofy could not be reached, timed out or answered 5xx / 429 / anything unusable: try again later. */
export class OAuthUnavailableError extends Error {
  override readonly name = 'OAuthUnavailableError';
  constructor(readonly reason: string) {
    super(`Cronofy's token endpoint is unavailable (${reason})`);
  }
}
