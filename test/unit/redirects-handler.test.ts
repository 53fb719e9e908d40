import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import type { RedirectRecord } from '#shared/contract/records.ts';
import type { PublicConfig } from '#shared/core/config.ts';
import type { Logger, RedirectStore, SecretsProvider } from '#shared/core/ports.ts';
import { makeHandler } from '../../functions/redirects/handler.ts';

const SECRETS = { clientSecrets: ['CRN_x'], embedPublicKey: 'EMB_link_key', embedSecret: 'ESK_link_secret' };
const NOW = new Date('2026-11-23T10:00:00.700Z');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const CONFIG: PublicConfig = {
  dataCenter: 'de',
  redirects: {
    time_chosen: 'https://ats.example.com/interviews/time-chosen?source=cronofy',
    declined: 'https://ats.example.com/interviews/declined',
  },
  publicLinks: { 'onsite-interview': 'Q5-ZDPM8' },
};

class FakeStore implements RedirectStore {
  records: RedirectRecord[] = [];
  failure: Error | undefined;
  async putRedirect(record: RedirectRecord) {
    if (this.failure) throw this.failure;
    this.records.push(record);
  }
}

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push({ level, message, ...fields });
  };
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  return { logger, lines };
}

function setup(options: { secrets?: SecretsProvider; config?: PublicConfig } = {}) {
  const store = new FakeStore();
  const { logger, lines } = capturingLogger();
  const handler = makeHandler({
    config: options.config ?? CONFIG,
    secrets: options.secrets ?? new StaticSecrets(SECRETS),
    store,
    clock: () => NOW,
    logger,
  });
  return { handler, store, lines };
}

function getEvent(path: string, rawQueryString = '', routeKey?: string): APIGatewayProxyEventV2 {
  const [, kind, param] = /^\/(redirects|links)\/(.*)$/.exec(path) ?? [];
  const key =
    routeKey ??
    (kind === 'redirects' ? 'GET /redirects/{step}' : kind === 'links' ? 'GET /links/{name}' : '$default');
  return {
    version: '2.0',
    routeKey: key,
    rawPath: path,
    rawQueryString,
    headers: { 'user-agent': 'Mozilla/5.0' },
    pathParameters:
      param === undefined ? undefined : kind === 'redirects' ? { step: param } : { name: param },
    requestContext: { http: { method: 'GET', path } },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

type Result = APIGatewayProxyStructuredResultV2 & { headers: Record<string, string>; body: string };
const call = async (h: ReturnType<typeof setup>['handler'], e: APIGatewayProxyEventV2) =>
  (await h(e)) as Result;

function expectRecipientHeaders(result: Result) {
  expect(result.headers['cache-control']).toBe('no-store');
  expect(result.headers['referrer-policy']).toBe('no-referrer');
}

function expectHtmlPage(result: Result, status: number) {
  expect(result.statusCode).toBe(status);
  expectRecipientHeaders(result);
  expect(result.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(result.headers['x-content-type-options']).toBe('nosniff');
  expect(result.headers['content-security-policy']).toContain("default-src 'none'");
  expect(result.headers.location).toBeUndefined();
  expect(result.body).toMatch(/^<!doctype html>/);
}

describe('GET /redirects/{step}', () => {
  it('records the redirect, then answers 302 to the configured URL with the id and allowed metadata', async () => {
    const { handler, store } = setup();
    const result = await call(
      handler,
      getEvent(
        '/redirects/time_chosen',
        'scheduling_request_id=srq_52b65401a5d87bb4f0bee44e&correlation_id=CAND-66&utm_source=email&foo=bar',
      ),
    );

    expect(result.statusCode).toBe(302);
    expectRecipientHeaders(result);
    expect(result.headers.location).toBe(
      'https://ats.example.com/interviews/time-chosen?source=cronofy&scheduling_request_id=srq_52b65401a5d87bb4f0bee44e&correlation_id=CAND-66&utm_source=email',
    );
    expect(store.records).toEqual([
      {
        entity: 'redirect',
        step: 'time_chosen',
        scheduling_request_id: 'srq_52b65401a5d87bb4f0bee44e',
        correlation_id: 'CAND-66',
        utm_source: 'email',
        at: '2026-11-23T10:00:00.700Z',
      },
    ]);
  });

  it('still redirects without a scheduling_request_id, and does not invent one', async () => {
    const { handler, store } = setup();
    const result = await call(handler, getEvent('/redirects/declined', 'correlation_id=CAND-7'));

    expect(result.statusCode).toBe(302);
    expect(result.headers.location).toBe('https://ats.example.com/interviews/declined?correlation_id=CAND-7');
    expect(store.records).toEqual([
      { entity: 'redirect', step: 'declined', correlation_id: 'CAND-7', at: '2026-11-23T10:00:00.700Z' },
    ]);
  });

  it('drops metadata over 128 characters instead of truncating it, from the record too', async () => {
    const { handler, store } = setup();
    const long = 'x'.repeat(129);
    const result = await call(
      handler,
      getEvent(
        '/redirects/declined',
        `scheduling_request_id=srq_1&correlation_id=${long}&utm_term=${'y'.repeat(128)}`,
      ),
    );

    const location = new URL(result.headers.location ?? '');
    expect(location.searchParams.get('correlation_id')).toBeNull();
    expect(location.searchParams.get('utm_term')).toBe('y'.repeat(128));
    expect(store.records[0]).not.toHaveProperty('correlation_id');
    expect(store.records[0]?.utm_term).toBe('y'.repeat(128));
  });

  it('redirects even when the record cannot be written, and logs why', async () => {
    const { handler, store, lines } = setup();
    store.failure = Object.assign(new Error('throughput exceeded'), {
      name: 'ProvisionedThroughputExceededException',
    });
    const result = await call(handler, getEvent('/redirects/time_chosen', 'scheduling_request_id=srq_9'));

    expect(result.statusCode).toBe(302);
    expect(result.headers.location).toBe(
      'https://ats.example.com/interviews/time-chosen?source=cronofy&scheduling_request_id=srq_9',
    );
    expect(lines).toContainEqual({
      level: 'error',
      message: 'redirect record not written',
      step: 'time_chosen',
      schedulingRequestId: 'srq_9',
      error: 'ProvisionedThroughputExceededException',
    });
  });

  it('answers a 404 HTML page for an unknown step, and writes nothing', async () => {
    const { handler, store } = setup();
    const result = await call(handler, getEvent('/redirects/hacked', 'scheduling_request_id=srq_1'));
    expectHtmlPage(result, 404);
    expect(result.body).toContain('This link is not valid');
    expect(store.records).toEqual([]);
  });

  it('answers 404 for a known step without a destination', async () => {
    const { handler, store } = setup();
    const result = await call(handler, getEvent('/redirects/rescheduled', 'scheduling_request_id=srq_1'));
    expectHtmlPage(result, 404);
    expect(store.records).toEqual([]);
  });

  it('answers 404 for names that exist on every object (no prototype lookups)', async () => {
    const { handler } = setup();
    for (const step of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expectHtmlPage(await call(handler, getEvent(`/redirects/${step}`)), 404);
      expectHtmlPage(await call(handler, getEvent(`/links/${step}`)), 404);
    }
  });

  it('answers a 500 HTML page, not a stack trace, when something unexpected breaks', async () => {
    const { handler, lines } = setup();
    const broken = {
      ...getEvent('/redirects/time_chosen'),
      requestContext: undefined,
    } as unknown as APIGatewayProxyEventV2;
    const result = await call(handler, broken);
    expectHtmlPage(result, 500);
    expect(result.body).not.toMatch(/TypeError|at .*\.ts/);
    expect(lines.some((l) => l.level === 'error' && l.message === 'recipient request failed')).toBe(true);
  });

  it('finds the route from rawPath when the gateway sends $default', async () => {
    const { handler } = setup();
    const result = await call(handler, getEvent('/redirects/declined', 'correlation_id=A', '$default'));
    expect(result.headers.location).toBe('https://ats.example.com/interviews/declined?correlation_id=A');
  });
});

describe('GET /links/{name}', () => {
  it('mints a claim token and answers 302 to the Public Link in the configured data center', async () => {
    const { handler, store } = setup();
    const result = await call(
      handler,
      getEvent('/links/onsite-interview', 'correlation_id=CAND-66&utm_medium=email'),
    );

    expect(result.statusCode).toBe(302);
    expectRecipientHeaders(result);
    const location = new URL(result.headers.location ?? '');
    expect(location.origin).toBe('https://app-de.cronofy.com');
    expect(location.pathname).toBe('/pls/Q5-ZDPM8');
    expect([...location.searchParams.keys()]).toEqual(['claim_token', 'correlation_id', 'utm_medium']);
    expect(location.searchParams.get('correlation_id')).toBe('CAND-66');
    expect(location.searchParams.get('utm_medium')).toBe('email');

    const { payload, protectedHeader } = await jwtVerify(
      location.searchParams.get('claim_token') ?? '',
      new TextEncoder().encode(SECRETS.embedSecret),
      { issuer: 'EMB_link_key', audience: 'public_link', algorithms: ['HS256'], currentDate: NOW },
    );
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.iat).toBe(Math.floor(NOW.getTime() / 1000));
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(14_400);
    expect(payload.jti).toMatch(UUID);
    // Links are not Workflow redirects: no redirect record.
    expect(store.records).toEqual([]);
  });

  it('mints a fresh token on every visit', async () => {
    const { handler } = setup();
    const first = await call(handler, getEvent('/links/onsite-interview'));
    const second = await call(handler, getEvent('/links/onsite-interview'));
    const token = (r: Result) => new URL(r.headers.location ?? '').searchParams.get('claim_token');
    expect(token(first)).not.toBe(token(second));
    expect(new URL(first.headers.location ?? '').search).toMatch(/^\?claim_token=[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('does not forward scheduling_request_id or unknown parameters', async () => {
    const { handler } = setup();
    const result = await call(
      handler,
      getEvent('/links/onsite-interview', 'scheduling_request_id=srq_1&email=a@b.c'),
    );
    expect([...new URL(result.headers.location ?? '').searchParams.keys()]).toEqual(['claim_token']);
  });

  it('answers a 404 HTML page for an unknown name', async () => {
    const { handler } = setup();
    expectHtmlPage(await call(handler, getEvent('/links/offsite-interview')), 404);
  });

  it('answers a 503 HTML page when the Embed secret cannot be read', async () => {
    const failing: SecretsProvider = { get: () => Promise.reject(new Error('secrets down')) };
    const { handler } = setup({ secrets: failing });
    const result = await call(handler, getEvent('/links/onsite-interview'));
    expectHtmlPage(result, 503);
    expect(result.body).toContain('Please try again');
    expect(result.body).not.toContain('secrets down');
  });

  it('uses app.cronofy.com for the us data center', async () => {
    const { handler } = setup({ config: { ...CONFIG, dataCenter: 'us' } });
    const result = await call(handler, getEvent('/links/onsite-interview'));
    expect(new URL(result.headers.location ?? '').host).toBe('app.cronofy.com');
  });

  it('logs the jti and correlation id, never the token', async () => {
    const { handler, lines } = setup();
    const result = await call(handler, getEvent('/links/onsite-interview', 'correlation_id=CAND-66'));
    const token = new URL(result.headers.location ?? '').searchParams.get('claim_token') ?? '';
    const launched = lines.find((l) => l.message === 'public link launched');
    expect(launched).toMatchObject({ name: 'onsite-interview', correlationId: 'CAND-66' });
    expect(launched?.jti).toMatch(UUID);
    expect(JSON.stringify(lines)).not.toContain(token);
  });
});
