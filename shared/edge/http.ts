import { UnavailableError } from '../core/errors.ts';

/**
 * HTTP answers in one place: typed errors map to status codes with `instanceof`, and a 5xx never carries
 * internals. Handlers turn a `HttpResult` into their platform's response shape.
 */

export interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export class UnauthorizedError extends HttpError {
  constructor(message = 'missing or invalid Cronofy-HMAC-SHA256 signature') {
    super(401, 'unauthorized', message);
  }
}

export class PayloadTooLargeError extends HttpError {
  constructor(limit: number) {
    super(413, 'payload_too_large', `body exceeds ${limit} bytes`);
  }
}

export const UNAVAILABLE_MESSAGE = 'temporarily unable to accept notifications; retry later';

export class ServiceUnavailableError extends HttpError {
  constructor() {
    super(503, 'unavailable', UNAVAILABLE_MESSAGE, {
      'retry-after': '5',
    });
  }
}

export class NotFoundError extends HttpError {
  constructor(message = 'Not Found') {
    super(404, 'not_found', message);
  }
}

export class BadRequestError extends HttpError {
  constructor(message: string) {
    super(400, 'bad_request', message);
  }
}

/**
 * On every recipient-facing answer (redirects, links, tokens). `no-referrer`: the Public Link URL carries a claim
 * token and our own URLs carry correlation ids; neither may reach a third party in a Referer header. `no-store`:
 * a token must never be served again from a cache, and each visit must mint its own.
 */
export const RECIPIENT_HEADERS = { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' } as const;

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** An error with a known answer (the others are logged by the handler as failures and answered 500). */
export function isAnswered(error: unknown): boolean {
  return error instanceof HttpError || error instanceof UnavailableError;
}

/** The only place an error becomes an answer. Unknown errors are a generic 500. */
export function errorToJson(error: unknown): HttpResult {
  if (error instanceof HttpError) {
    return json(error.statusCode, { error: error.code, message: error.message }, error.headers);
  }
  if (error instanceof UnavailableError) {
    return json(
      503,
      { error: 'unavailable', message: error.message },
      { 'retry-after': String(error.retryAfterSeconds) },
    );
  }
  return json(500, { error: 'internal_error', message: 'internal error' });
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
