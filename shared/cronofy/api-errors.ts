/**
 * What can go wrong calling Cronofy's API, as typed errors the edge maps to answers with `instanceof`
 * (422 → 422 with the errors map, credential rejected → 502, unavailable → 503 + Retry-After).
 * Messages carry status codes and operation names only: never a credential or a request/response body.
 */

export type CronofyOperation =
  | 'create_scheduling_request'
  | 'query_scheduling_requests'
  | 'cancel_scheduling_request';

export class CronofyApiError extends Error {
  override name = 'CronofyApiError';
  constructor(
    readonly operation: CronofyOperation,
    /** Cronofy's HTTP status; absent when there was no answer. */
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** `422`: Cronofy rejected a parameter. `errors` is `{param: [message, …]}`. */
export class CronofyValidationError extends CronofyApiError {
  override name = 'CronofyValidationError';
  constructor(
    operation: CronofyOperation,
    readonly errors: Record<string, string[]>,
  ) {
    super(operation, 422, `Cronofy rejected parameters: ${Object.keys(errors).join(', ')}`);
  }
}

/** `401` (not recognised) or `403` (recognised, insufficient scope): the credential needs attention. */
export class CredentialRejectedError extends CronofyApiError {
  override name = 'CredentialRejectedError';
  constructor(operation: CronofyOperation, status: 401 | 403) {
    super(
      operation,
      status,
      status === 401
        ? 'Cronofy did not recognise the API credential'
        : 'Cronofy recognised the API credential but it lacks the scope for this operation',
    );
  }
}

/**
 * Cronofy was unreachable, timed out, answered 5xx or 429 beyond the retry budget, or the local rate limit
 * had no slot within it. `retryAfterSeconds` is when trying again makes sense.
 */
export class CronofyUnavailableError extends CronofyApiError {
  override name = 'CronofyUnavailableError';
  constructor(
    operation: CronofyOperation,
    status: number | undefined,
    readonly retryAfterSeconds: number,
    readonly reason: 'rate_limited' | 'server_error' | 'network' | 'timeout' | 'local_rate_limit',
    readonly attempts: number,
  ) {
    super(
      operation,
      status,
      `Cronofy unavailable (${reason}${status ? ` ${status}` : ''}) after ${attempts} attempt(s); retry after ${retryAfterSeconds} s`,
    );
  }
}

/** `404`: no such resource (e.g. cancelling an unknown scheduling request). */
export class CronofyNotFoundError extends CronofyApiError {
  override name = 'CronofyNotFoundError';
}

/** Any other answer we cannot use: another 4xx (402 plan lacks the feature, 423 locked), or a 2xx whose body
 *  does not hold what the operation needs. Not retried. */
export class CronofyRequestError extends CronofyApiError {
  override name = 'CronofyRequestError';
}
