/**
 * Typed failures of the domain, without status codes: shared/edge/http.ts is the one place that turns them
 * into answers (with `instanceof`). Their messages are written for the caller; an error that is not one of
 * these is an internal failure, answered without its message.
 */

/** A failure put in words for the caller. */
export class DomainError extends Error {}

/** The request is malformed or incomplete; the message says what to change. */
export class InvalidRequestError extends DomainError {}

/** The body is larger than the route accepts. */
export class BodyTooLargeError extends DomainError {
  constructor(limitBytes: number) {
    super(`body exceeds ${limitBytes} bytes`);
  }
}

/** The request does not prove who sent it (a missing or wrong signature). */
export class UnauthenticatedError extends DomainError {}

/** What the request names does not exist. */
export class NotFoundError extends DomainError {}

/** An idempotency key came back with a different request. */
export class IdempotencyKeyReusedError extends DomainError {}

/** A failure that may pass: trying again after `retryAfterSeconds` makes sense. */
export class RetryLaterError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds = 5,
  ) {
    super(message);
  }
}

/** The same request is still being processed. */
export class InProgressError extends RetryLaterError {}

/** A dependency (secrets, a queue, a store) is out of reach for now. */
export class UnavailableError extends RetryLaterError {}

// The upstream is Cronofy's API (shared/cronofy/ raises its own errors; the use cases translate them).

/** The upstream refused fields of the request: `fieldErrors` is `{field of this API: [message, …]}`. */
export class UpstreamRejectedError extends DomainError {
  constructor(
    message: string,
    readonly fieldErrors: Record<string, string[]>,
  ) {
    super(message);
  }
}

/** The upstream rejected this service's credential: an operator must act. */
export class UpstreamCredentialError extends DomainError {}

/** The upstream is unavailable or rate limited. */
export class UpstreamUnavailableError extends UnavailableError {}

/** The upstream answered in a way this service cannot use. */
export class UpstreamError extends DomainError {}

// Tenants (an integrator's customers, each with its own Cronofy Organizational Unit).

/** The request names a tenant that is not registered. */
export class UnknownTenantError extends NotFoundError {
  constructor(readonly tenantId: string) {
    super('unknown tenant');
  }
}

/** The tenant is registered but cannot be called for: `tenant_not_connected` (no Organization Connect yet) or `tenant_disconnected` (Cronofy refused the refresh, or it was offboarded). */
export class TenantUnavailableError extends DomainError {
  constructor(
    readonly tenantId: string,
    readonly code: 'tenant_not_connected' | 'tenant_disconnected',
  ) {
    super(
      code === 'tenant_not_connected'
        ? 'tenant has not connected Cronofy yet'
        : 'tenant is disconnected from Cronofy',
    );
  }
}

/** A feature the deployment has not been configured for (e.g. Organization Connect without `cronofy.clientId`). */
export class NotConfiguredError extends DomainError {}
