import { spawn } from 'node:child_process';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { jwtVerify } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { silentLogger } from '#shared/core/logger.ts';
import { mintToken } from '#shared/recipients/tokens.ts';
import { makeHandler as makeRedirectsHandler } from '../../functions/redirects/handler.ts';
import { makeHandler as makeTokensHandler } from '../../functions/tokens/handler.ts';

/**
 * An independent implementation reads our tokens: PyJWT (Debian's python3-jwt), run with the system Python.
 * jose signing and jose verifying could agree on a mistake; PyJWT decoding the same bytes with the contract's
 * audience and issuer, and every registered claim required, cannot share it.
 */

const PYTHON = '/usr/bin/python3';
const SECRETS = {
  clientSecrets: ['CRN_x'],
  embedPublicKey: 'EMB_pyjwt_public_key',
  embedSecret: 'ESK_pyjwt_secret_with_ünïcode',
};
const KEY = new TextEncoder().encode(SECRETS.embedSecret);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const DECODE = `
import json, sys, jwt
request = json.load(sys.stdin)
try:
    claims = jwt.decode(
        request["token"],
        request["secret"],
        algorithms=["HS256"],
        audience=request["audience"],
        issuer=request["issuer"],
        options={"require": ["iss", "aud", "iat", "exp", "jti"]},
    )
    print(json.dumps({"ok": True, "claims": claims, "header": jwt.get_unverified_header(request["token"]), "version": jwt.__version__}))
except jwt.PyJWTError as error:
    print(json.dumps({"ok": False, "error": type(error).__name__}))
`;

interface PyJwtAnswer {
  ok: boolean;
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
  error?: string;
}

function python(script: string, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`python exited ${code}: ${stderr}`)),
    );
    child.stdin.end(input);
  });
}

async function pyjwtDecode(
  token: string,
  audience: string,
  options: { secret?: string; issuer?: string } = {},
): Promise<PyJwtAnswer> {
  const input = JSON.stringify({
    token,
    secret: options.secret ?? SECRETS.embedSecret,
    audience,
    issuer: options.issuer ?? SECRETS.embedPublicKey,
  });
  return JSON.parse(await python(DECODE, input)) as PyJwtAnswer;
}

async function joseClaims(token: string, audience: string) {
  const { payload } = await jwtVerify(token, KEY, {
    issuer: SECRETS.embedPublicKey,
    audience,
    algorithms: ['HS256'],
  });
  return payload;
}

beforeAll(async () => {
  const version = await python('import jwt; print(jwt.__version__)', '').catch((error: Error) => {
    throw new Error(`PyJWT is needed for this test (apt-get install python3-jwt): ${error.message}`);
  });
  expect(version.trim()).toMatch(/^2\./);
});

describe('tokens decoded by PyJWT', () => {
  it('a claim token: PyJWT and jose read the same contract claims', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { token } = await mintToken(SECRETS, { kind: 'claim', ttlSeconds: 3600 }, () => new Date());

    const answer = await pyjwtDecode(token, 'public_link');
    const jose = await joseClaims(token, 'public_link');

    expect(answer.ok).toBe(true);
    expect(answer.header).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(answer.claims).toEqual(jose);
    expect(answer.claims).toEqual({
      iss: 'EMB_pyjwt_public_key',
      aud: 'public_link',
      iat: expect.any(Number),
      exp: expect.any(Number),
      jti: expect.stringMatching(UUID),
    });
    const iat = answer.claims?.iat as number;
    expect(iat).toBeGreaterThanOrEqual(before);
    expect(iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect((answer.claims?.exp as number) - iat).toBe(3600);
  });

  it('an embed token with tenant_id', async () => {
    const { token } = await mintToken(SECRETS, { kind: 'embed', tenantId: 'acme-eu' }, () => new Date());
    const answer = await pyjwtDecode(token, 'scheduler_embed');

    expect(answer.ok).toBe(true);
    expect(answer.claims).toEqual(await joseClaims(token, 'scheduler_embed'));
    expect(answer.claims).toMatchObject({
      aud: 'scheduler_embed',
      tenant_id: 'acme-eu',
      iss: 'EMB_pyjwt_public_key',
    });
    expect((answer.claims?.exp as number) - (answer.claims?.iat as number)).toBe(14_400);
  });

  it('is strict: PyJWT refuses the token for another audience, issuer or secret, and once expired', async () => {
    const { token } = await mintToken(SECRETS, { kind: 'claim' }, () => new Date());
    expect(await pyjwtDecode(token, 'scheduler_embed')).toEqual({ ok: false, error: 'InvalidAudienceError' });
    expect(await pyjwtDecode(token, 'public_link', { issuer: 'EMB_other' })).toEqual({
      ok: false,
      error: 'InvalidIssuerError',
    });
    expect(await pyjwtDecode(token, 'public_link', { secret: 'ESK_other' })).toEqual({
      ok: false,
      error: 'InvalidSignatureError',
    });
    const old = await mintToken(
      SECRETS,
      { kind: 'claim', ttlSeconds: 60 },
      () => new Date(Date.now() - 3_600_000),
    );
    expect(await pyjwtDecode(old.token, 'public_link')).toEqual({
      ok: false,
      error: 'ExpiredSignatureError',
    });
  });

  it('the claim token in a Public Link redirect', async () => {
    const handler = makeRedirectsHandler({
      config: { dataCenter: 'uk', redirects: {}, publicLinks: { 'onsite-interview': 'Q5-ZDPM8' } },
      secrets: new StaticSecrets(SECRETS),
      store: { putRedirect: async () => {} },
      clock: () => new Date(),
      logger: silentLogger,
    });
    const result = (await handler({
      version: '2.0',
      routeKey: 'GET /links/{name}',
      rawPath: '/links/onsite-interview',
      rawQueryString: 'correlation_id=CAND-66',
      headers: {},
      pathParameters: { name: 'onsite-interview' },
      requestContext: { http: { method: 'GET', path: '/links/onsite-interview' } },
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2)) as APIGatewayProxyStructuredResultV2 & {
      headers: Record<string, string>;
    };
    const location = new URL(result.headers.location ?? '');
    expect(location.host).toBe('app-uk.cronofy.com');

    const token = location.searchParams.get('claim_token') ?? '';
    const answer = await pyjwtDecode(token, 'public_link');
    expect(answer.ok).toBe(true);
    expect(answer.claims).toEqual(await joseClaims(token, 'public_link'));
    expect((answer.claims?.exp as number) - (answer.claims?.iat as number)).toBe(14_400);
  });

  it('the token answered by POST /tokens/embed', async () => {
    const handler = makeTokensHandler({
      secrets: new StaticSecrets(SECRETS),
      clock: () => new Date(),
      logger: silentLogger,
      requireIamAuthorizer: true,
    });
    const result = (await handler({
      version: '2.0',
      routeKey: 'POST /tokens/embed',
      rawPath: '/tokens/embed',
      rawQueryString: '',
      headers: { 'content-type': 'application/json' },
      requestContext: {
        http: { method: 'POST', path: '/tokens/embed' },
        authorizer: { iam: { userArn: 'arn:aws:iam::123456789012:user/ats', accountId: '123456789012' } },
      },
      body: '{"ttl_seconds":120,"tenant_id":"t-9"}',
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2)) as APIGatewayProxyStructuredResultV2 & { body: string };
    const body = JSON.parse(result.body) as { token: string; expires_at: string };

    const answer = await pyjwtDecode(body.token, 'scheduler_embed');
    expect(answer.ok).toBe(true);
    expect(answer.claims).toMatchObject({ aud: 'scheduler_embed', tenant_id: 't-9' });
    expect((answer.claims?.exp as number) - (answer.claims?.iat as number)).toBe(120);
    expect(new Date(body.expires_at).getTime()).toBe((answer.claims?.exp as number) * 1000);
  });
});
