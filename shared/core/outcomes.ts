/**
 * What the use cases answer when they succeed, without HTTP: shared/edge/http.ts maps each outcome (and each
 * typed error of ./errors.ts) to an answer.
 */

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
