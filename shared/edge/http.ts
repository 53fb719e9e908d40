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

export class ServiceUnavailableError extends HttpError {
  constructor() {
    super(503, 'unavailable', 'temporarily unable to accept notifications; retry later', {
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

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** The only place an error becomes an answer. Unknown errors are a generic 500. */
export function errorToJson(error: unknown): HttpResult {
  if (error instanceof HttpError) {
    return json(error.statusCode, { error: error.code, message: error.message }, error.headers);
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
