import {
  BodyTooLargeError,
  type DomainError,
  IdempotencyKeyReusedError,
  InProgressError,
  InvalidRequestError,
  NotConfiguredError,
  NotFoundError,
  RetryLaterError,
  TenantUnavailableError,
  UnauthenticatedError,
  UnavailableError,
  UnknownTenantError,
  UpstreamCredentialError,
  UpstreamError,
  UpstreamRejectedError,
  UpstreamUnavailableError,
} from '../core/errors.ts';
import type {
  IssuedToken,
  OAuthCallbackOutcome,
  SchedulingRequestCancelled,
  SchedulingRequestCreated,
  TenantList,
  TenantOffboarded,
  TenantOnboarding,
  TenantPut,
  TenantView,
} from '../core/outcomes.ts';

/**
 * HTTP answers in one place: the outcomes of the use cases (shared/core/outcomes.ts) and their typed errors
 * (shared/core/errors.ts, mapped with `instanceof`) become status codes, headers and bodies here, and nowhere
 * else; a 5xx never carries internals. Handlers turn a `HttpResult` into their platform's response shape.
 */

export interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * On every recipient-facing answer (redirects, links, tokens). `no-referrer`: the Public Link URL carries a claim
 * token and our own URLs carry correlation ids; neither may reach a third party in a Referer header. `no-store`:
 * a token must never be served again from a cache, and each visit must mint its own.
 */
export const RECIPIENT_HEADERS = { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' } as const;

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** Header lookup that ignores case (API Gateway lowercases names; other callers may not). */
export function header(
  headers: Record<string, string | undefined> | undefined,
  name: string,
): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// JSON answers (`headers` are added to those of every JSON answer)

export function healthy(): HttpResult {
  return json(200, { status: 'ok' });
}

/** No route of this function matches. */
export function routeNotFound(headers: Record<string, string> = {}): HttpResult {
  return json(404, { error: 'not_found', message: 'Not Found' }, headers);
}

/** The route was reached without the authorization API Gateway should have checked. */
export function forbidden(headers: Record<string, string> = {}): HttpResult {
  return json(403, { error: 'forbidden', message: 'Forbidden' }, headers);
}

/** `POST /cronofy/notifications`: signed and durably queued. */
export function notificationAccepted(): HttpResult {
  return json(202, { status: 'accepted' });
}

/** `POST /tokens/claim` and `POST /tokens/embed`. */
export function tokenIssued(issued: IssuedToken): HttpResult {
  return json(200, { token: issued.token, expires_at: issued.expiresAt }, RECIPIENT_HEADERS);
}

/** `POST /scheduling-requests`; a replayed answer says so in `Idempotent-Replayed`. */
export function schedulingRequestCreated({ request, url, replayed }: SchedulingRequestCreated): HttpResult {
  return json(
    201,
    {
      scheduling_request_id: request.scheduling_request_id,
      url,
      dashboard_url: request.dashboard_url ?? null,
    },
    replayed ? { 'idempotent-replayed': 'true' } : {},
  );
}

/** `POST /scheduling-requests/{id}/cancel`. */
export function schedulingRequestCancelled(cancelled: SchedulingRequestCancelled): HttpResult {
  return json(200, {
    scheduling_request_id: cancelled.schedulingRequestId,
    status: 'cancelled',
    cancelled_at: cancelled.cancelledAt,
  });
}

/** `PUT /tenants/{tenant_id}`: 201 created, 200 updated; the body as `GET`. */
export function tenantPut({ tenant, created }: TenantPut): HttpResult {
  return json(created ? 201 : 200, tenant);
}

export function tenantFound(tenant: TenantView): HttpResult {
  return json(200, tenant);
}

export function tenantListed({ tenants, nextCursor }: TenantList): HttpResult {
  return json(200, { tenants, ...(nextCursor ? { next_cursor: nextCursor } : {}) });
}

/** `DELETE /tenants/{tenant_id}`: the tenant as `GET`, and whether Cronofy confirmed the revocation. */
export function tenantOffboarded({ tenant, revoked }: TenantOffboarded): HttpResult {
  return json(200, { ...tenant, revoked });
}

/** `POST /tenants/{tenant_id}/onboarding`: the URLs carry a token and a state, so never cached. */
export function tenantOnboarding(onboarding: TenantOnboarding): HttpResult {
  return json(
    200,
    {
      sign_up_url: onboarding.signUpUrl,
      connect_url: onboarding.connectUrl,
      expires_at: onboarding.expiresAt,
    },
    RECIPIENT_HEADERS,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Errors → JSON answers

/**
 * Typed errors answered `{error, message}` with a status and a code, per route family (so that each function
 * carries only its own); the first match wins, and any other error is a generic 500.
 */
type ErrorAnswers = ReadonlyArray<readonly [new (...args: never[]) => DomainError, number, string]>;

/** Out of reach for now (secrets, the queue, the store): 503 and when to try again. On every route. */
const UNAVAILABLE = [UnavailableError, 503, 'unavailable'] as const;

function errorToJson(answers: ErrorAnswers, error: unknown, headers: Record<string, string> = {}) {
  for (const [type, statusCode, code] of answers) {
    if (!(error instanceof type)) continue;
    const retry: Record<string, string> =
      error instanceof RetryLaterError ? { 'retry-after': String(error.retryAfterSeconds) } : {};
    return json(statusCode, { error: code, message: error.message }, { ...retry, ...headers });
  }
  return json(500, { error: 'internal_error', message: 'internal error' }, headers);
}

const NOTIFICATION_ERRORS: ErrorAnswers = [
  [UnauthenticatedError, 401, 'unauthorized'],
  [BodyTooLargeError, 413, 'payload_too_large'],
  UNAVAILABLE,
];

/** `POST /cronofy/notifications`. */
export function notificationErrorToJson(error: unknown): HttpResult {
  return errorToJson(NOTIFICATION_ERRORS, error);
}

const TOKEN_ERRORS: ErrorAnswers = [[InvalidRequestError, 400, 'bad_request'], UNAVAILABLE];

/** `POST /tokens/*`. */
export function tokenErrorToJson(error: unknown): HttpResult {
  return errorToJson(TOKEN_ERRORS, error, RECIPIENT_HEADERS);
}

const SCHEDULING_ERRORS: ErrorAnswers = [
  [InvalidRequestError, 400, 'bad_request'],
  [NotFoundError, 404, 'not_found'],
  [InProgressError, 409, 'in_progress'],
  [IdempotencyKeyReusedError, 422, 'idempotency_key_reused'],
  [UpstreamCredentialError, 502, 'cronofy_credential_rejected'],
  [UpstreamError, 502, 'cronofy_error'],
  // Before UNAVAILABLE: an UpstreamUnavailableError is an UnavailableError too.
  [UpstreamUnavailableError, 503, 'cronofy_unavailable'],
  UNAVAILABLE,
];

/**
 * A tenant that cannot be called for, in the contract's exact bodies: `404 {"error":"unknown_tenant"}`, `409
 * {"error":"tenant_not_connected"|"tenant_disconnected","tenant_id"}`. Undefined for any other error.
 */
export function tenantCallErrorToJson(error: unknown): HttpResult | undefined {
  if (error instanceof UnknownTenantError) return json(404, { error: 'unknown_tenant' });
  if (error instanceof TenantUnavailableError)
    return json(409, { error: error.code, tenant_id: error.tenantId });
  return undefined;
}

/** `POST /scheduling-requests` and `…/{id}/cancel`; Cronofy's 422 keeps its errors per field. */
export function schedulingErrorToJson(error: unknown): HttpResult {
  if (error instanceof UpstreamRejectedError) return json(422, { errors: error.fieldErrors });
  return tenantCallErrorToJson(error) ?? errorToJson(SCHEDULING_ERRORS, error);
}

const TENANT_ERRORS: ErrorAnswers = [
  [InvalidRequestError, 400, 'bad_request'],
  // Before NotFoundError: an UnknownTenantError is one.
  [UnknownTenantError, 404, 'unknown_tenant'],
  [NotFoundError, 404, 'not_found'],
  [NotConfiguredError, 501, 'not_configured'],
  UNAVAILABLE,
];

/** `PUT/GET/DELETE /tenants/{tenant_id}`, `GET /tenants`, `POST /tenants/{tenant_id}/onboarding`. */
export function tenantErrorToJson(error: unknown): HttpResult {
  return errorToJson(TENANT_ERRORS, error);
}

// ---------------------------------------------------------------------------------------------------------
// Recipient answers: a redirect, or a page a person reads

/** With RECIPIENT_HEADERS on every page. */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'x-content-type-options': 'nosniff',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
} as const;

/** To `location`, or a page saying the link leads nowhere when there is none. */
export function recipientAnswer(location: string | undefined): HttpResult {
  if (location === undefined) return errorPage(404);
  return { statusCode: 302, headers: { ...RECIPIENT_HEADERS, location }, body: '' };
}

/** A failure as a page: out of reach for now is a 503, anything else a 500 (never a stack trace). */
export function recipientErrorPage(error: unknown): HttpResult {
  return errorPage(error instanceof UnavailableError ? 503 : 500);
}

export type ErrorPageStatus = 404 | 500 | 503;

/** What a person sees when a link leads nowhere. Fixed text: nothing from the request is echoed. */
const PAGES: Record<ErrorPageStatus, { title: string; message: string }> = {
  404: {
    title: 'This link is not valid',
    message:
      'The link you followed does not lead to a page. Please check that it was copied in full from the message you received, or contact the person who sent it to you.',
  },
  500: {
    title: 'Something went wrong',
    message: 'We could not open this link. Please try again in a few minutes.',
  },
  503: {
    title: 'Temporarily unavailable',
    message: 'We could not open this link just now. Please try again in a minute.',
  },
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function errorPage(status: ErrorPageStatus): HttpResult {
  return page(status, PAGES[status]);
}

/** Organization Connect's callback, as the customer admin reads it when no page of the integrator is configured. */
const CALLBACK_PAGES: Record<OAuthCallbackOutcome['result'], { title: string; message: string }> = {
  connected: {
    title: 'Cronofy is connected',
    message: 'Your Cronofy organization is now connected. You can close this window.',
  },
  access_denied: {
    title: 'Cronofy was not connected',
    message:
      'The authorization was declined in Cronofy, so nothing was connected. You can start again from the application.',
  },
  exchange_failed: {
    title: 'Cronofy could not be connected',
    message:
      'Cronofy authorized the connection but it could not be completed. Please start again from the application in a few minutes.',
  },
  invalid_state: {
    title: 'This link is not valid',
    message:
      'This authorization link has expired or was already used. Please start the connection again from the application.',
  },
};

/**
 * `GET /oauth/cronofy/callback`: a forged, expired or used state is a 400 page and never a redirect; otherwise a
 * `302` to the integrator's page when one is configured, else a page that says what happened. Fixed text only:
 * nothing from the request is echoed.
 */
export function oauthCallbackAnswer(outcome: OAuthCallbackOutcome): HttpResult {
  if (outcome.result === 'invalid_state') return page(400, CALLBACK_PAGES.invalid_state);
  if (outcome.location !== undefined)
    return { statusCode: 302, headers: { ...RECIPIENT_HEADERS, location: outcome.location }, body: '' };
  return page(outcome.result === 'connected' ? 200 : 400, CALLBACK_PAGES[outcome.result]);
}

function page(status: number, text: { title: string; message: string }): HttpResult {
  const title = escapeHtml(text.title);
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${title}</title>
<style>body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:32rem;margin:4rem auto;padding:0 1.5rem;line-height:1.5;color:#1f2933}h1{font-size:1.5rem}</style>
</head>
<body>
<h1>${title}</h1>
<p>${escapeHtml(text.message)}</p>
</body>
</html>
`;
  const headers: Record<string, string> = { ...RECIPIENT_HEADERS, ...PAGE_HEADERS };
  if (status === 503) headers['retry-after'] = '30';
  return { statusCode: status, headers, body };
}
