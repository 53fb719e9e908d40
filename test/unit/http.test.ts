import { describe, expect, it } from 'vitest';
import {
  BodyTooLargeError,
  IdempotencyKeyReusedError,
  InProgressError,
  InvalidRequestError,
  NotFoundError,
  UnauthenticatedError,
  UnavailableError,
  UpstreamCredentialError,
  UpstreamError,
  UpstreamRejectedError,
  UpstreamUnavailableError,
} from '#shared/core/errors.ts';
import {
  errorPage,
  escapeHtml,
  type HttpResult,
  notificationErrorToJson,
  recipientAnswer,
  recipientErrorPage,
  schedulingErrorToJson,
  tokenErrorToJson,
} from '#shared/edge/http.ts';

const answer = (result: HttpResult) => ({
  statusCode: result.statusCode,
  body: JSON.parse(result.body),
  retryAfter: result.headers['retry-after'],
});

describe('typed errors → JSON answers', () => {
  it('notifications: 401, 413, 503 with Retry-After, and a 500 that says nothing of the error', () => {
    expect(answer(notificationErrorToJson(new UnauthenticatedError('missing signature')))).toEqual({
      statusCode: 401,
      body: { error: 'unauthorized', message: 'missing signature' },
    });
    expect(answer(notificationErrorToJson(new BodyTooLargeError(10)))).toEqual({
      statusCode: 413,
      body: { error: 'payload_too_large', message: 'body exceeds 10 bytes' },
    });
    expect(answer(notificationErrorToJson(new UnavailableError('retry later')))).toEqual({
      statusCode: 503,
      body: { error: 'unavailable', message: 'retry later' },
      retryAfter: '5',
    });
    expect(answer(notificationErrorToJson(new Error('table arn:aws:… is gone')))).toEqual({
      statusCode: 500,
      body: { error: 'internal_error', message: 'internal error' },
    });
  });

  it('tokens: 400 bad_request, 503, always with the recipient headers', () => {
    const bad = tokenErrorToJson(new InvalidRequestError('body is not valid JSON'));
    expect(answer(bad)).toEqual({
      statusCode: 400,
      body: { error: 'bad_request', message: 'body is not valid JSON' },
    });
    for (const result of [bad, tokenErrorToJson(new UnavailableError('x')), tokenErrorToJson(new Error())])
      expect(result.headers).toMatchObject({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
  });

  it('scheduling requests: each typed error has its status and code', () => {
    const cases: [Error, number, string, string?][] = [
      [new InvalidRequestError('m'), 400, 'bad_request'],
      [new NotFoundError('m'), 404, 'not_found'],
      [new InProgressError('m', 7), 409, 'in_progress', '7'],
      [new IdempotencyKeyReusedError('m'), 422, 'idempotency_key_reused'],
      [new UpstreamCredentialError('m'), 502, 'cronofy_credential_rejected'],
      [new UpstreamError('m'), 502, 'cronofy_error'],
      [new UpstreamUnavailableError('m', 9), 503, 'cronofy_unavailable', '9'],
      [new UnavailableError('m'), 503, 'unavailable', '5'],
      [new Error('m'), 500, 'internal_error'],
    ];
    for (const [error, statusCode, code, retryAfter] of cases) {
      const result = answer(schedulingErrorToJson(error));
      expect(result).toMatchObject({ statusCode, body: { error: code }, retryAfter });
    }
    expect(answer(schedulingErrorToJson(new UpstreamRejectedError('m', { summary: ['too long'] })))).toEqual({
      statusCode: 422,
      body: { errors: { summary: ['too long'] } },
    });
  });
});

describe('recipient answers', () => {
  it('redirects with the recipient headers, or shows the 404 page when there is nowhere to go', () => {
    expect(recipientAnswer('https://ats.example.com/p')).toEqual({
      statusCode: 302,
      headers: {
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
        location: 'https://ats.example.com/p',
      },
      body: '',
    });
    expect(recipientAnswer(undefined)).toEqual(errorPage(404));
  });

  it('shows the 503 page for a dependency out of reach, the 500 page for anything else', () => {
    expect(recipientErrorPage(new UnavailableError('x'))).toEqual(errorPage(503));
    expect(recipientErrorPage(new Error('x'))).toEqual(errorPage(500));
  });
});

describe('errorPage', () => {
  it.each([404, 500, 503] as const)('%i is a small, readable HTML page with safe headers', (status) => {
    const page = errorPage(status);
    expect(page.statusCode).toBe(status);
    expect(page.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
    });
    expect(page.headers['content-security-policy']).toMatch(/^default-src 'none'; style-src 'unsafe-inline'/);
    expect(page.body).toMatch(/^<!doctype html>/);
    expect(page.body).toContain('<h1>');
    expect(page.body.length).toBeLessThan(2048);
    expect(page.body).not.toMatch(/stack|Error|\{"/);
  });

  it('says what happened in words a recipient understands', () => {
    expect(errorPage(404).body).toContain('This link is not valid');
    expect(errorPage(503).body).toContain('Please try again');
    expect(errorPage(503).headers['retry-after']).toBe('30');
  });

  it('escapes HTML', () => {
    expect(escapeHtml(`<script>"x" & 'y'</script>`)).toBe(
      '&#60;script&#62;&#34;x&#34; &#38; &#39;y&#39;&#60;/script&#62;',
    );
  });
});
