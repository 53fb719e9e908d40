import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { METADATA_KEYS } from '#shared/contract/keys.ts';
import { silentLogger } from '#shared/core/logger.ts';
import { makeHandler } from '../../functions/redirects/handler.ts';

/**
 * Nothing in a request can move a recipient off the configured destination: for every attempt below the
 * Location's scheme, host and path are exactly the configured ones, and only allow-listed names reach its
 * query string.
 */

const EMBED_SECRET = 'ESK_open_redirect_secret';
const NOW = new Date('2026-11-23T10:00:00Z');
const handler = makeHandler({
  config: {
    dataCenter: 'de',
    redirects: { time_chosen: 'https://ats.example.com/interviews/time-chosen?source=cronofy' },
    publicLinks: { 'onsite-interview': 'Q5-ZDPM8' },
  },
  secrets: new StaticSecrets({
    clientSecrets: ['CRN_x'],
    embedPublicKey: 'EMB_x',
    embedSecret: EMBED_SECRET,
  }),
  store: { putRedirect: async () => {} },
  clock: () => NOW,
  logger: silentLogger,
});

type Result = APIGatewayProxyStructuredResultV2 & { headers: Record<string, string>; body: string };

/** As API Gateway hands the request over: the path parameter raw, hostile headers included. */
async function get(path: string, rawQueryString: string, pathParameter?: string): Promise<Result> {
  const [, kind, param] = /^\/(redirects|links)\/(.*)$/.exec(path) ?? [];
  const value = pathParameter ?? param ?? '';
  const event = {
    version: '2.0',
    routeKey: kind === 'redirects' ? 'GET /redirects/{step}' : 'GET /links/{name}',
    rawPath: path,
    rawQueryString,
    headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example', referer: 'https://evil.example/' },
    pathParameters: kind === 'redirects' ? { step: value } : { name: value },
    requestContext: { http: { method: 'GET', path }, domainName: 'evil.example' },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
  return (await handler(event)) as Result;
}

const TEN_KB = 'a'.repeat(10 * 1024);

const ATTEMPTS: Array<[string, string]> = [
  ['redirect_uri', 'redirect_uri=https://evil.example/'],
  ['next / url / return_to', 'next=//evil.example&url=https://evil.example&return_to=%2F%2Fevil.example'],
  ['protocol-relative value', 'correlation_id=//evil.example/path'],
  ['absolute URL value', 'correlation_id=https%3A%2F%2Fevil.example%2F'],
  ['encoded slashes', 'utm_source=%2F%2Fevil.example&utm_medium=%252F%252Fevil.example'],
  ['userinfo', 'correlation_id=@evil.example&utm_term=x%40evil.example'],
  ['backslashes', 'utm_source=\\\\evil.example&utm_medium=%5C%5Cevil.example&utm_term=/%5Cevil.example'],
  [
    'CRLF header injection',
    'correlation_id=x%0d%0aLocation:%20https://evil.example&utm_source=%0aSet-Cookie:a=b',
  ],
  ['raw CR/LF', 'correlation_id=x\r\nLocation: https://evil.example'],
  ['NUL and tab', 'correlation_id=a%00b&utm_source=a%09b'],
  [
    'unicode look-alikes',
    'correlation_id=%D0%B5v%D1%96l.example&utm_source=evil%E3%80%82example&utm_medium=%EF%BC%8F%EF%BC%8Fevil.example',
  ],
  ['fullwidth and RTL override', 'utm_term=%E2%80%AEelpmaxe.live&utm_content=%EF%BC%A0evil'],
  [
    'query break-out',
    'scheduling_request_id=srq_1%26redirect_uri%3Dhttps://evil.example%23&correlation_id=x%23@evil.example',
  ],
  ['path traversal in values', 'scheduling_request_id=../../../evil&correlation_id=..%2F..%2Fevil'],
  ['10 KB values', `correlation_id=${TEN_KB}&scheduling_request_id=${TEN_KB}&junk=${TEN_KB}`],
  ['repeated parameters', 'correlation_id=ok&correlation_id=//evil.example&utm_source=https://evil.example'],
  ['claim_token and source overrides', 'claim_token=attacker.jwt.token&source=evil'],
  ['malformed escapes', 'correlation_id=%E0%A4%A&utm_source=%&utm_medium=%zz'],
];

const REDIRECT_KEYS = new Set(['source', 'scheduling_request_id', ...METADATA_KEYS]);
const LINK_KEYS = new Set(['claim_token', ...METADATA_KEYS]);

function expectSafeLocation(result: Result) {
  expect(result.statusCode).toBe(302);
  const raw = result.headers.location ?? '';
  // Printable ASCII only: no CR/LF to split headers, no look-alike characters for a browser to reinterpret.
  expect(raw).toMatch(/^[\x21-\x7e]+$/);
  expect(raw.length).toBeLessThan(2048);
  const location = new URL(raw);
  expect(location.username).toBe('');
  expect(location.password).toBe('');
  expect(location.hash).toBe('');
  return location;
}

describe('open redirect attempts on GET /redirects/{step}', () => {
  it.each(ATTEMPTS)('%s', async (_name, query) => {
    const location = expectSafeLocation(await get('/redirects/time_chosen', query));
    expect(location.protocol).toBe('https:');
    expect(location.host).toBe('ats.example.com');
    expect(location.pathname).toBe('/interviews/time-chosen');
    for (const key of location.searchParams.keys()) expect(REDIRECT_KEYS.has(key)).toBe(true);
    expect(location.searchParams.getAll('source')).toEqual(['cronofy']);
    for (const key of REDIRECT_KEYS) expect(location.searchParams.getAll(key).length).toBeLessThanOrEqual(1);
    for (const value of location.searchParams.values()) expect(value.length).toBeLessThanOrEqual(128);
  });

  it('forwards a suspicious but well-formed value only as an encoded query value', async () => {
    const result = await get('/redirects/time_chosen', 'correlation_id=//evil.example/path');
    expect(result.headers.location).toBe(
      'https://ats.example.com/interviews/time-chosen?source=cronofy&correlation_id=%2F%2Fevil.example%2Fpath',
    );
  });

  it('keeps the first of repeated parameters', async () => {
    const location = new URL(
      (await get('/redirects/time_chosen', 'correlation_id=ok&correlation_id=//evil')).headers.location ?? '',
    );
    expect(location.searchParams.get('correlation_id')).toBe('ok');
  });
});

describe('open redirect attempts on GET /links/{name}', () => {
  it.each(ATTEMPTS)('%s', async (_name, query) => {
    const location = expectSafeLocation(await get('/links/onsite-interview', query));
    expect(location.protocol).toBe('https:');
    expect(location.host).toBe('app-de.cronofy.com');
    expect(location.pathname).toBe('/pls/Q5-ZDPM8');
    for (const key of location.searchParams.keys()) expect(LINK_KEYS.has(key)).toBe(true);
    const tokens = location.searchParams.getAll('claim_token');
    expect(tokens).toHaveLength(1);
    // The claim token is always ours, never one from the request.
    await expect(
      jwtVerify(tokens[0] ?? '', new TextEncoder().encode(EMBED_SECRET), {
        algorithms: ['HS256'],
        currentDate: NOW,
      }),
    ).resolves.toBeDefined();
  });
});

describe('path tricks in {step} and {name}', () => {
  const PATHS: Array<[string, string]> = [
    ['/redirects/..%2F..%2Fevil', '..%2F..%2Fevil'],
    ['/redirects/..%2Ftime_chosen', '../time_chosen'],
    ['/redirects/time_chosen%2F..%2F..', 'time_chosen%2F..%2F..'],
    ['/redirects/%2e%2e', '%2e%2e'],
    ['/redirects/time_chosen%00', 'time_chosen%00'],
    ['/redirects/time_chosen%0d%0a', 'time_chosen\r\n'],
    ['/redirects/TIME_CHOSEN', 'TIME_CHOSEN'],
    ['/redirects/time_chosen%20', 'time_chosen '],
    ['/redirects/https:%2F%2Fevil.example', 'https://evil.example'],
    ['/redirects/%E2%80%8Btime_chosen', '\u200btime_chosen'],
    ['/redirects/%', '%'],
    ['/links/..%2Fonsite-interview', '../onsite-interview'],
    ['/links/onsite-interview%2F..', 'onsite-interview/..'],
    ['/links/Onsite-Interview', 'Onsite-Interview'],
    ['/links/%2F%2Fevil.example', '//evil.example'],
    ['/links/onsite%E2%80%90interview', 'onsite\u2010interview'],
    [`/links/${TEN_KB}`, TEN_KB],
  ];

  it.each(PATHS)('%s → 404 page, no Location', async (path, parameter) => {
    const result = await get(path, 'correlation_id=x', parameter);
    expect(result.statusCode).toBe(404);
    expect(result.headers.location).toBeUndefined();
    expect(result.headers['content-type']).toBe('text/html; charset=utf-8');
    // Nothing from the request is echoed into the page.
    expect(result.body).not.toContain('evil');
    expect(result.body).not.toContain('TIME_CHOSEN');
  });
});
