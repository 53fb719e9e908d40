import { request as httpRequest } from 'node:http';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStreamImage } from '#shared/contract/records.ts';
import { parseConfig } from '#shared/core/config.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';

/**
 * The recipient-facing routes and the token API over real HTTP, through local mode's gateway, handlers,
 * DynamoDB Local and the table's stream: what a browser and an integrator's backend see.
 */

const API_TOKEN = 'e2e-redirects-tokens-credential';
const SECRETS = {
  clientSecrets: ['CRN_e2e_client_secret'],
  embedPublicKey: 'EMB_e2e_public_key',
  embedSecret: 'ESK_e2e_embed_secret',
};
const KEY = new TextEncoder().encode(SECRETS.embedSecret);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TIME_CHOSEN = 'https://ats.example.com/interviews/time-chosen?source=cronofy';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({
    quiet: true,
    apiToken: API_TOKEN,
    tableName: `e2e-redirects-${process.pid}`,
    config: {
      config: parseConfig({
        dataCenter: 'au',
        redirects: { time_chosen: TIME_CHOSEN, declined: 'https://ats.example.com/interviews/declined' },
        publicLinks: { 'onsite-interview': 'Q5-ZDPM8' },
        local: SECRETS,
      }),
      secrets: SECRETS,
    },
  });
});

afterAll(async () => {
  await stack?.stop();
});

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET with the path sent byte for byte (fetch would normalise `..` and encodings before sending). */
function rawGet(path: string): Promise<RawAnswer> {
  const url = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: 'GET', path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function postToken(
  kind: 'claim' | 'embed',
  body: string | undefined,
  authorization?: string,
): Promise<Response> {
  return fetch(`${stack.url}/tokens/${kind}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(authorization === undefined ? {} : { authorization }),
    },
    ...(body === undefined ? {} : { body }),
  });
}

function expectNoStoreNoReferrer(headers: RawAnswer['headers']) {
  expect(headers['cache-control']).toBe('no-store');
  expect(headers['referrer-policy']).toBe('no-referrer');
}

describe('GET /redirects/{step} through local mode', () => {
  it('redirects to the configured page and puts a redirect record on the stream', async () => {
    const srid = `srq_e2e_${process.pid}`;
    const answer = await rawGet(
      `/redirects/time_chosen?scheduling_request_id=${srid}&correlation_id=CAND-66&utm_source=email&redirect_uri=https://evil.example`,
    );

    expect(answer.status).toBe(302);
    expectNoStoreNoReferrer(answer.headers);
    expect(answer.headers.location).toBe(
      `${TIME_CHOSEN}&scheduling_request_id=${srid}&correlation_id=CAND-66&utm_source=email`,
    );

    const change = await stack.stream.waitFor(
      (c) => c.entity === 'redirect' && c.newImage?.scheduling_request_id === srid,
    );
    expect(change.eventName).toBe('INSERT');
    expect(change.pk).toMatch(/^redirect#[0-9a-f-]{36}$/);
    const record = parseStreamImage(change.record.dynamodb?.NewImage ?? {});
    expect(record).toEqual({
      entity: 'redirect',
      step: 'time_chosen',
      scheduling_request_id: srid,
      correlation_id: 'CAND-66',
      utm_source: 'email',
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
  });

  it.each([
    ['CRLF', '/redirects/declined?correlation_id=x%0d%0aLocation:%20https://evil.example'],
    ['protocol-relative', '/redirects/declined?correlation_id=%2F%2Fevil.example&next=//evil.example'],
    ['look-alike', '/redirects/declined?utm_source=%EF%BC%8F%EF%BC%8Fevil%E3%80%82example'],
    ['long value', `/redirects/declined?correlation_id=${'a'.repeat(10_240)}`],
  ])('a %s attempt lands on the configured page', async (_name, path) => {
    const answer = await rawGet(path);
    expect(answer.status).toBe(302);
    const location = new URL(String(answer.headers.location));
    expect(`${location.protocol}//${location.host}${location.pathname}`).toBe(
      'https://ats.example.com/interviews/declined',
    );
    for (const key of location.searchParams.keys()) expect(['correlation_id', 'utm_source']).toContain(key);
    expect(String(answer.headers.location)).toMatch(/^[\x21-\x7e]+$/);
  });

  it.each([
    '/redirects/unknown_step',
    '/redirects/rescheduled',
    '/redirects/..%2F..%2Fevil',
    '/redirects/%2F%2Fevil.example',
  ])('%s answers the 404 page', async (path) => {
    const answer = await rawGet(path);
    expect(answer.status).toBe(404);
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.headers.location).toBeUndefined();
    expectNoStoreNoReferrer(answer.headers);
    expect(answer.body).toContain('This link is not valid');
    expect(answer.body).not.toContain('evil');
  });
});

describe('GET /links/{name} through local mode', () => {
  it('mints a claim token and redirects to the Public Link in the configured data center', async () => {
    const answer = await rawGet(
      '/links/onsite-interview?correlation_id=CAND-66&utm_medium=email&email=a%40b.c',
    );

    expect(answer.status).toBe(302);
    expectNoStoreNoReferrer(answer.headers);
    const location = new URL(String(answer.headers.location));
    expect(location.origin).toBe('https://app-au.cronofy.com');
    expect(location.pathname).toBe('/pls/Q5-ZDPM8');
    expect([...location.searchParams.keys()]).toEqual(['claim_token', 'correlation_id', 'utm_medium']);
    expect(location.searchParams.get('correlation_id')).toBe('CAND-66');

    const { payload } = await jwtVerify(location.searchParams.get('claim_token') ?? '', KEY, {
      issuer: 'EMB_e2e_public_key',
      audience: 'public_link',
      algorithms: ['HS256'],
    });
    expect(payload.iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(14_400);
    expect(payload.jti).toMatch(UUID);
  });

  it('answers the 404 page for an unknown link', async () => {
    const answer = await rawGet('/links/offsite-interview?correlation_id=CAND-66');
    expect(answer.status).toBe(404);
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(answer.body).toMatch(/^<!doctype html>/);
  });
});

describe('POST /tokens/* through local mode', () => {
  it('refuses a request without the local credential, as API Gateway refuses an unsigned one', async () => {
    expect((await postToken('claim', undefined)).status).toBe(403);
    expect((await postToken('claim', undefined, 'Bearer wrong-token')).status).toBe(403);
    expect((await postToken('embed', '{}', `Basic ${API_TOKEN}`)).status).toBe(403);
  });

  it('mints a claim token for the documented credential', async () => {
    const response = await postToken('claim', undefined, `Bearer ${API_TOKEN}`);

    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    const body = (await response.json()) as { token: string; expires_at: string };
    const { payload } = await jwtVerify(body.token, KEY, {
      issuer: 'EMB_e2e_public_key',
      audience: 'public_link',
      algorithms: ['HS256'],
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(14_400);
    expect(new Date(body.expires_at).getTime()).toBe((payload.exp ?? 0) * 1000);
  });

  it('mints an embed token with tenant_id and ttl_seconds', async () => {
    const response = await postToken(
      'embed',
      '{"tenant_id":"acme","ttl_seconds":600}',
      `Bearer ${API_TOKEN}`,
    );

    expect(response.status).toBe(200);
    const { token } = (await response.json()) as { token: string };
    const { payload } = await jwtVerify(token, KEY, {
      issuer: 'EMB_e2e_public_key',
      audience: 'scheduler_embed',
      algorithms: ['HS256'],
    });
    expect(payload.tenant_id).toBe('acme');
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(600);
  });

  it('answers 400 with a short reason for a bad body', async () => {
    const response = await postToken('claim', '{"ttl_seconds":86400}', `Bearer ${API_TOKEN}`);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: 'bad_request',
      message: 'ttl_seconds must be between 1 and 14400',
    });
  });
});
