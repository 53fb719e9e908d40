import { decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '#shared/core/errors.ts';
import {
  DEFAULT_TTL_SECONDS,
  MAX_TTL_SECONDS,
  mintToken,
  parseTokenRequest,
  tokenClaimsSchema,
} from '#shared/recipients/tokens.ts';

const SECRETS = { embedPublicKey: 'EMB_test_public_key', embedSecret: 'ESK_test_secret_value' };
const KEY = new TextEncoder().encode(SECRETS.embedSecret);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
// 999 ms past a second: a rounding implementation would put iat in the future.
const NOW = new Date('2026-11-23T10:00:00.999Z');
const NOW_SECONDS = Math.floor(NOW.getTime() / 1000);
const clock = () => NOW;

async function verify(token: string, audience: string) {
  return jwtVerify(token, KEY, {
    issuer: SECRETS.embedPublicKey,
    audience,
    algorithms: ['HS256'],
    currentDate: NOW,
  });
}

describe('mintToken', () => {
  it('mints a claim token with exactly the claims Cronofy expects', async () => {
    const minted = await mintToken(SECRETS, { kind: 'claim' }, clock);
    const { payload, protectedHeader } = await verify(minted.token, 'public_link');

    expect(protectedHeader).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(Object.keys(payload).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'jti']);
    expect(payload.iss).toBe('EMB_test_public_key');
    expect(payload.aud).toBe('public_link');
    expect(payload.iat).toBe(NOW_SECONDS);
    expect(payload.exp).toBe(NOW_SECONDS + 14_400);
    expect(payload.jti).toMatch(UUID);
    expect(minted.claims).toEqual(payload);
    expect(minted.expiresAt).toBe('2026-11-23T14:00:00Z');
    expect(tokenClaimsSchema.parse(payload)).toEqual(payload);
  });

  it('never puts iat in the future: it floors the clock to whole seconds', async () => {
    const { claims } = await mintToken(SECRETS, { kind: 'claim' }, clock);
    expect(claims.iat).toBe(1_795_428_000);
    expect(claims.iat * 1000).toBeLessThanOrEqual(NOW.getTime());
  });

  it('sets exp − iat to the requested ttl, from 1 second up to 4 hours', async () => {
    for (const ttl of [1, 60, 3600, MAX_TTL_SECONDS]) {
      const minted = await mintToken(SECRETS, { kind: 'claim', ttlSeconds: ttl }, clock);
      const { payload } = await verify(minted.token, 'public_link');
      expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(ttl);
      expect(minted.expiresAt).toBe(new Date((NOW_SECONDS + ttl) * 1000).toISOString().replace('.000Z', 'Z'));
    }
    expect(DEFAULT_TTL_SECONDS).toBe(14_400);
  });

  it('refuses a ttl outside 1..14400 or not whole', async () => {
    for (const ttl of [0, -1, 14_401, 1.5, Number.NaN]) {
      await expect(mintToken(SECRETS, { kind: 'claim', ttlSeconds: ttl }, clock)).rejects.toThrow(RangeError);
    }
  });

  it('gives every token a fresh UUID jti', async () => {
    const tokens = await Promise.all(
      Array.from({ length: 50 }, () => mintToken(SECRETS, { kind: 'claim' }, clock)),
    );
    const ids = tokens.map((t) => t.claims.jti);
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(50);
    expect(new Set(tokens.map((t) => t.token)).size).toBe(50);
  });

  it('mints an embed token with aud scheduler_embed, and tenant_id only when given', async () => {
    const withTenant = await mintToken(
      SECRETS,
      { kind: 'embed', tenantId: 'tenant-42', ttlSeconds: 600 },
      clock,
    );
    const { payload } = await verify(withTenant.token, 'scheduler_embed');
    expect(payload).toMatchObject({
      iss: 'EMB_test_public_key',
      aud: 'scheduler_embed',
      tenant_id: 'tenant-42',
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(600);

    const withoutTenant = await mintToken(SECRETS, { kind: 'embed' }, clock);
    const plain = await verify(withoutTenant.token, 'scheduler_embed');
    expect(plain.payload).not.toHaveProperty('tenant_id');
  });

  it('never puts tenant_id on a claim token', async () => {
    const minted = await mintToken(SECRETS, { kind: 'claim', tenantId: 'tenant-42' }, clock);
    const { payload } = await verify(minted.token, 'public_link');
    expect(payload).not.toHaveProperty('tenant_id');
  });

  it('produces tokens that fail verification with another secret, audience or issuer', async () => {
    const { token } = await mintToken(SECRETS, { kind: 'claim' }, clock);
    await expect(
      jwtVerify(token, new TextEncoder().encode('ESK_other'), { algorithms: ['HS256'], currentDate: NOW }),
    ).rejects.toThrow();
    await expect(verify(token, 'scheduler_embed')).rejects.toThrow(/aud/);
    await expect(
      jwtVerify(token, KEY, { issuer: 'EMB_other', algorithms: ['HS256'], currentDate: NOW }),
    ).rejects.toThrow(/iss/);
    expect(decodeProtectedHeader(token).alg).toBe('HS256');
  });

  it('uses the injected id generator', async () => {
    const minted = await mintToken(
      SECRETS,
      { kind: 'claim' },
      clock,
      () => '00000000-0000-4000-8000-000000000001',
    );
    expect(minted.claims.jti).toBe('00000000-0000-4000-8000-000000000001');
  });
});

/** The typed error answered 400 bad_request (shared/edge/http.ts), with exactly this message. */
const invalidRequest = (message: string) =>
  expect.objectContaining({ constructor: InvalidRequestError, message });

describe('parseTokenRequest', () => {
  const parse = (kind: 'claim' | 'embed', body: string) =>
    parseTokenRequest(kind, new TextEncoder().encode(body));

  it('accepts an empty body, whitespace and {} as defaults', () => {
    for (const body of ['', '  \n', '{}']) {
      expect(parse('claim', body)).toEqual({ kind: 'claim', ttlSeconds: undefined, tenantId: undefined });
    }
  });

  it('reads ttl_seconds and, for embed, tenant_id', () => {
    expect(parse('claim', '{"ttl_seconds":60}')).toMatchObject({ ttlSeconds: 60 });
    expect(parse('embed', '{"ttl_seconds":14400,"tenant_id":"t-1"}')).toMatchObject({
      kind: 'embed',
      ttlSeconds: 14_400,
      tenantId: 't-1',
    });
    expect(parse('embed', JSON.stringify({ tenant_id: 'x'.repeat(64) })).tenantId).toHaveLength(64);
  });

  it.each([
    ['claim', '{bad', 'body is not valid JSON'],
    ['claim', '[]', 'body must be a JSON object'],
    ['claim', 'null', 'body must be a JSON object'],
    ['claim', '"x"', 'body must be a JSON object'],
    ['claim', '{"ttl_seconds":0}', 'ttl_seconds must be between 1 and 14400'],
    ['claim', '{"ttl_seconds":14401}', 'ttl_seconds must be between 1 and 14400'],
    ['claim', '{"ttl_seconds":1.5}', 'ttl_seconds must be a whole number of seconds'],
    ['claim', '{"ttl_seconds":"60"}', 'ttl_seconds must be a number of seconds'],
    ['claim', '{"ttl_seconds":null}', 'ttl_seconds must be a number of seconds'],
    ['claim', '{"ttl":60}', 'unknown field; allowed fields: ttl_seconds'],
    ['claim', '{"tenant_id":"t-1"}', 'unknown field; allowed fields: ttl_seconds'],
    ['embed', '{"tenantId":"t-1"}', 'unknown field; allowed fields: ttl_seconds, tenant_id'],
    ['embed', '{"tenant_id":""}', 'tenant_id must not be empty'],
    ['embed', '{"tenant_id":42}', 'tenant_id must be a string'],
    ['embed', JSON.stringify({ tenant_id: 'x'.repeat(65) }), 'tenant_id must be at most 64 characters'],
    ['embed', '{"tenant_id":"t\\u0000-1"}', 'tenant_id must not contain control characters'],
    ['embed', '{"tenant_id":"t-\\ud800"}', 'tenant_id must be well-formed Unicode'],
  ] as const)('%s %s → invalid request (400) "%s"', (kind, body, message) => {
    expect(() => parse(kind, body)).toThrow(invalidRequest(message));
  });

  it('rejects a body over 8 KB and bytes that are not UTF-8', () => {
    expect(() => parse('claim', `{"ttl_seconds":60${' '.repeat(8200)}}`)).toThrow(
      invalidRequest('body must be at most 8192 bytes'),
    );
    expect(() => parseTokenRequest('claim', Uint8Array.from([0x7b, 0xff, 0x7d]))).toThrow(
      invalidRequest('body must be UTF-8 JSON'),
    );
  });
});
