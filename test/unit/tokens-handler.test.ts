import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import type { SecretsProvider } from '#shared/core/ports.ts';
import { makeHandler } from '../../functions/tokens/handler.ts';
import { capturingLogger } from '../support/capturing-logger.ts';

const SECRETS = {
  clientSecrets: ['CRN_x'],
  embedPublicKey: 'EMB_handler_key',
  embedSecret: 'ESK_handler_secret',
};
const KEY = new TextEncoder().encode(SECRETS.embedSecret);
const NOW = new Date('2026-11-23T10:00:00.400Z');
const NOW_SECONDS = 1_795_428_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const CALLER = 'arn:aws:sts::123456789012:assumed-role/ats-backend/session';

function setup(options: { secrets?: SecretsProvider; requireIamAuthorizer?: boolean } = {}) {
  const { logger, lines } = capturingLogger();
  const handler = makeHandler({
    secrets: options.secrets ?? new StaticSecrets(SECRETS),
    clock: () => NOW,
    logger,
    requireIamAuthorizer: options.requireIamAuthorizer ?? true,
  });
  return { handler, lines };
}

interface EventOptions {
  base64?: boolean;
  method?: string;
  routeKey?: string;
  rawPath?: string;
  iam?: boolean;
}

function event(
  kind: 'claim' | 'embed',
  body: string | undefined,
  options: EventOptions = {},
): APIGatewayProxyEventV2 {
  const path = `/tokens/${kind}`;
  return {
    version: '2.0',
    routeKey: options.routeKey ?? `POST ${path}`,
    rawPath: options.rawPath ?? path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: {
      http: { method: options.method ?? 'POST', path },
      ...(options.iam === false
        ? {}
        : { authorizer: { iam: { userArn: CALLER, accountId: '123456789012', callerId: 'AROA:session' } } }),
    },
    body: body === undefined ? undefined : options.base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: options.base64 ?? false,
  } as unknown as APIGatewayProxyEventV2;
}

type Result = APIGatewayProxyStructuredResultV2 & { headers: Record<string, string>; body: string };
const call = async (h: ReturnType<typeof setup>['handler'], e: APIGatewayProxyEventV2) =>
  (await h(e)) as Result;

function expectTokenHeaders(result: Result) {
  expect(result.headers['cache-control']).toBe('no-store');
  expect(result.headers['referrer-policy']).toBe('no-referrer');
  expect(result.headers['content-type']).toBe('application/json; charset=utf-8');
}

describe('tokens handler', () => {
  it('POST /tokens/claim without a body answers 200 with a 4-hour claim token', async () => {
    const { handler } = setup();
    const result = await call(handler, event('claim', undefined));

    expect(result.statusCode).toBe(200);
    expectTokenHeaders(result);
    const body = JSON.parse(result.body);
    expect(Object.keys(body).sort()).toEqual(['expires_at', 'token']);
    expect(body.expires_at).toBe('2026-11-23T14:00:00Z');
    const { payload } = await jwtVerify(body.token, KEY, {
      issuer: 'EMB_handler_key',
      audience: 'public_link',
      algorithms: ['HS256'],
      currentDate: NOW,
    });
    expect(payload.iat).toBe(NOW_SECONDS);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(14_400);
    expect(payload.jti).toMatch(UUID);
  });

  it('POST /tokens/embed with ttl_seconds and tenant_id (base64-encoded by the gateway)', async () => {
    const { handler } = setup();
    const result = await call(
      handler,
      event('embed', '{"ttl_seconds":900,"tenant_id":"acme"}', { base64: true }),
    );

    expect(result.statusCode).toBe(200);
    const body = JSON.parse(result.body);
    expect(body.expires_at).toBe('2026-11-23T10:15:00Z');
    const { payload } = await jwtVerify(body.token, KEY, {
      issuer: 'EMB_handler_key',
      audience: 'scheduler_embed',
      algorithms: ['HS256'],
      currentDate: NOW,
    });
    expect(payload).toMatchObject({
      aud: 'scheduler_embed',
      tenant_id: 'acme',
      iat: NOW_SECONDS,
      exp: NOW_SECONDS + 900,
    });
  });

  it('gives each request its own jti', async () => {
    const { handler } = setup();
    const tokens = await Promise.all([1, 2, 3].map(() => call(handler, event('claim', ''))));
    const ids = await Promise.all(
      tokens.map(
        async (t) => (await jwtVerify(JSON.parse(t.body).token, KEY, { currentDate: NOW })).payload.jti,
      ),
    );
    expect(new Set(ids).size).toBe(3);
  });

  it.each([
    ['claim', '{"ttl_seconds":', 'body is not valid JSON'],
    ['claim', '{"ttl_seconds":0}', 'ttl_seconds must be between 1 and 14400'],
    ['claim', '{"ttl_seconds":99999}', 'ttl_seconds must be between 1 and 14400'],
    ['claim', '{"ttl_seconds":60,"aud":"x"}', 'unknown field; allowed fields: ttl_seconds'],
    ['embed', '{"tenant_id":""}', 'tenant_id must not be empty'],
    // The same tenant ids as the tenant routes (the contract's §5): an id no tenant can be registered under is
    // refused rather than signed into a token Cronofy keys an Organizational Unit by.
    [
      'embed',
      '{"tenant_id":"Acme Corp"}',
      'tenant_id must be 1 to 64 characters of A-Z a-z 0-9 . _ -, not . or ..',
    ],
    ['embed', `{"tenant_id":"${'a'.repeat(65)}"}`, 'tenant_id must be at most 64 characters'],
    [
      'embed',
      '{"tenant_id":"acme/x"}',
      'tenant_id must be 1 to 64 characters of A-Z a-z 0-9 . _ -, not . or ..',
    ],
  ] as const)('%s %s → 400 JSON with a short reason', async (kind, body, message) => {
    const { handler } = setup();
    const result = await call(handler, event(kind, body));

    expect(result.statusCode).toBe(400);
    expectTokenHeaders(result);
    expect(JSON.parse(result.body)).toEqual({ error: 'bad_request', message });
  });

  it('answers 503 without internals when the secrets cannot be read', async () => {
    const failing: SecretsProvider = {
      get: () =>
        Promise.reject(new Error('AccessDeniedException: arn:aws:secretsmanager:eu-west-1:1:secret:x')),
    };
    const { handler, lines } = setup({ secrets: failing });
    const result = await call(handler, event('claim', ''));

    expect(result.statusCode).toBe(503);
    expectTokenHeaders(result);
    expect(result.headers['retry-after']).toBe('5');
    expect(JSON.parse(result.body)).toEqual({
      error: 'unavailable',
      message: 'temporarily unable to mint tokens; retry later',
    });
    expect(result.body).not.toContain('arn:');
    expect(lines.some((l) => l.includes('"level":"error"') && l.includes('secrets unavailable'))).toBe(true);
  });

  it('refuses 403 a request API Gateway did not authorise with IAM', async () => {
    const { handler, lines } = setup();
    const result = await call(handler, event('claim', '', { iam: false }));

    expect(result.statusCode).toBe(403);
    expectTokenHeaders(result);
    expect(JSON.parse(result.body)).toEqual({ error: 'forbidden', message: 'Forbidden' });
    expect(lines.join('\n')).toContain('without IAM authorization');
  });

  it('serves requests without an IAM context when the gateway authenticates them itself (local mode)', async () => {
    const { handler } = setup({ requireIamAuthorizer: false });
    const result = await call(handler, event('claim', '', { iam: false }));
    expect(result.statusCode).toBe(200);
  });

  it('logs the caller and jti for audit, never the token', async () => {
    const { handler, lines } = setup();
    const result = await call(handler, event('embed', '{"tenant_id":"acme"}'));
    const token: string = JSON.parse(result.body).token;
    const { payload } = await jwtVerify(token, KEY, { currentDate: NOW });

    const minted = lines.map((l) => JSON.parse(l)).find((l) => l.message === 'token minted');
    expect(minted).toEqual({
      level: 'info',
      message: 'token minted',
      kind: 'embed',
      jti: payload.jti,
      ttlSeconds: 14_400,
      caller: CALLER,
    });
    expect(lines.join('\n')).not.toContain(token.split('.')[2]);
  });

  it('finds the route from rawPath when the gateway sends $default, stage prefix included', async () => {
    const { handler } = setup();
    const result = await call(
      handler,
      event('embed', '', { routeKey: '$default', rawPath: '/prod/tokens/embed' }),
    );
    expect(result.statusCode).toBe(200);
    const { payload } = await jwtVerify(JSON.parse(result.body).token, KEY, { currentDate: NOW });
    expect(payload.aud).toBe('scheduler_embed');
  });

  it('answers 404 for another method or path', async () => {
    const { handler } = setup();
    expect(
      (await call(handler, event('claim', '', { method: 'GET', routeKey: '$default' }))).statusCode,
    ).toBe(404);
    expect(
      (await call(handler, event('claim', '', { routeKey: '$default', rawPath: '/tokens/claim/extra' })))
        .statusCode,
    ).toBe(404);
  });
});
