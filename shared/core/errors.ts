/**
 * Typed failures of the domain, without status codes: shared/edge/http.ts is the one place that turns them
 * into answers.
 */

/** A dependency (secrets, a queue, a store) is out of reach for now; the caller may retry. */
export class UnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds = 5,
  ) {
    super(message);
    this.name = 'UnavailableError';
  }
}
