/**
 * What the use cases answer when they succeed, without HTTP: shared/edge/http.ts maps each outcome (and each
 * typed error of ./errors.ts) to an answer.
 */

import type { TenantStatus } from '../contract/tenants.ts';
import type { CreatedRequest } from './ports.ts';

/** A token minted for `POST /tokens/*` (the JWT is a bearer credential: never logged). */
export interface IssuedToken {
  token: string;
  /** `exp` as ISO 8601 (UTC, whole seconds). */
  expiresAt: string;
}

/** A scheduling request created in Cronofy (or the first answer again, for a repeated Idempotency-Key). */
export interface SchedulingRequestCreated {
  request: CreatedRequest;
  /** The link to send the recipient: Cronofy's, with the metadata as query parameters. */
  url: string;
  replayed: boolean;
}

export interface SchedulingRequestCancelled {
  schedulingRequestId: string;
  /** When Cronofy accepted the cancellation (ISO 8601). */
  cancelledAt: string;
}

/** A tenant as `GET /tenants/{tenant_id}` answers it: never a token or a secret. */
export interface TenantView {
  tenant_id: string;
  name: string;
  status: TenantStatus;
  /** Where the tenant's own Internal Application sends its Scheduler Workflow callbacks. */
  notification_url: string;
  client_secrets_count: number;
  connected_at?: string;
  disconnected_at?: string;
}

export interface TenantPut {
  tenant: TenantView;
  created: boolean;
}

export interface TenantList {
  tenants: TenantView[];
  nextCursor?: string;
}

/** `DELETE /tenants/{tenant_id}`: offboarded; `revoked` false when Cronofy could not be reached to revoke. */
export interface TenantOffboarded {
  tenant: TenantView;
  revoked: boolean;
}

/** `POST /tenants/{tenant_id}/onboarding`. */
export interface TenantOnboarding {
  signUpUrl: string;
  connectUrl: string;
  /** When the connect URL's state expires (ISO 8601). */
  expiresAt: string;
}

/**
 * Where Organization Connect's callback sends the browser: `redirect` to a configured page, or `page` when none
 * is configured. `invalid_state` never redirects (nothing can be trusted about it).
 */
export type OAuthCallbackOutcome =
  | { result: 'connected' | 'access_denied' | 'exchange_failed'; tenantId: string; location?: string }
  | { result: 'invalid_state' };
