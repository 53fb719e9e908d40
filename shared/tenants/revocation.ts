import type { Logger } from '../core/ports.ts';

/**
 * When a token of another authorization than the tenant's live one may be revoked at Cronofy. Organization Connect
 * is one authorization per customer OU, and the revoke endpoint revokes "the authorization"
 * (https://docs.cronofy.com/developers/api/organization-connect/): two consents of the same OU (an admin clicking
 * "Connect" again) may well share one, and revoking the older's refresh token could end the newer. Which OU a
 * consent came from is known only when Cronofy's token answer carries `sub` (UNCONFIRMED that it does).
 *
 * The rule, for the previous credential of a tenant onboarded again, the tokens a callback gives back, and the
 * tokens a refresh obtained after being overtaken by a new connection: revoke only when the tenant holds no other
 * live credential, or when both OU ids are known and differ. Never the live credential's own refresh token; never
 * when the live credential could not be read.
 */

/** The credential the tenant holds now: `none` when it holds none, `unknown` when it could not be read. */
export type LiveCredential = { refreshToken: string; sub?: string } | 'none' | 'unknown';

export function mayRevoke(
  candidate: { token: string; sub?: string | undefined },
  live: LiveCredential,
): boolean {
  if (live === 'none') return true;
  if (live === 'unknown' || candidate.token === live.refreshToken) return false;
  return candidate.sub !== undefined && live.sub !== undefined && candidate.sub !== live.sub;
}

/** The info line of a token left unrevoked by the rule: the tenant id only, never a token. */
export function logKept(logger: Logger, tenantId: string, what: string): void {
  logger.info(`${what} kept: it may be the same authorization as the tenant's live one`, { tenantId });
}
