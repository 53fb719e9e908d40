import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '#shared/notifications/signature.ts';
import { type CronofyFake, startCronofyFake } from '../../infra/local/cronofy-fake.ts';
import { freePort } from '../../infra/local/services.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';

/**
 * What local mode prints while a tenant is onboarded (its callback used, replayed and forged), tokens are minted,
 * a request is created and signed notifications arrive (one with a bad signature): every line of the gateway,
 * the functions, the stream, the events and the Cronofy fake, and none of them holds a secret, a token, a value
 * of a body, or the callback's query.
 */

const SECRET = 'CRN_e2e_console_app_secret';
const TENANT_SECRET = 'CRN_e2e_console_tenant_secret';
const EMBED_SECRET = 'ESK_e2e_console_embed_secret';
const API_TOKEN = 'e2e-console-bearer-token';
const BODY_MARKER = 'body-value-never-printed';
const EMAIL = 'console-candidate@example.com';

const printed: string[] = [];
let stack: LocalStack;
let fake: CronofyFake;

beforeAll(async () => {
  const port = await freePort();
  fake = await startCronofyFake({
    clientSecret: SECRET,
    notificationUrl: `http://127.0.0.1:${port}/cronofy/notifications`,
    log: (line) => printed.push(`cronofy ${line}`),
  });
  stack = await startLocalStack({
    port,
    tableName: `e2e-console-${process.pid}`,
    visibilityTimeoutSeconds: 5,
    cronofyApiUrl: fake.url,
    apiToken: API_TOKEN,
    print: (line) => printed.push(line),
    env: {
      CRONOFY_CLIENT_SECRETS: SECRET,
      CRONOFY_EMBED_PUBLIC_KEY: 'EMB_e2e_console',
      CRONOFY_EMBED_SECRET: EMBED_SECRET,
    },
  });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  await fake?.close();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, text: await response.text() };
}

async function visit(url: string): Promise<{ status: number; location: string }> {
  const response = await fetch(url, { redirect: 'manual' });
  await response.arrayBuffer();
  return { status: response.status, location: response.headers.get('location') ?? '' };
}

function notify(path: string, body: string, secret: string) {
  return fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers: { 'cronofy-hmac-sha256': signBody(body, secret) },
    body,
  });
}

describe("local mode's console", { timeout: 60_000 }, () => {
  it('never prints a secret, a token, a body value or the OAuth callback query', async () => {
    expect(
      (await call('PUT', '/tenants/acme', { name: 'Acme', client_secrets: [TENANT_SECRET] })).status,
    ).toBe(201);
    const onboarding = JSON.parse((await call('POST', '/tenants/acme/onboarding')).text) as Record<
      string,
      string
    >;
    const consent = await visit(onboarding.connect_url ?? '');
    const callback = new URL(consent.location);
    const code = callback.searchParams.get('code') ?? '';
    const state = callback.searchParams.get('state') ?? '';
    expect(code).not.toBe('');
    expect((await visit(callback.href)).status).toBe(200);
    expect((await visit(callback.href)).status).toBe(400); // the state is used
    const forged = `${stack.url}/oauth/cronofy/callback?state=${state}&state=x&code=${code}&code=${BODY_MARKER}`;
    expect((await visit(forged)).status).toBe(400);

    const minted = [
      JSON.parse((await call('POST', '/tokens/embed', { tenant_id: 'acme' })).text).token as string,
      JSON.parse((await call('POST', '/tokens/claim')).text).token as string,
      new URL((await visit(`${stack.url}/links/onsite-interview`)).location).searchParams.get('claim_token'),
    ];
    const created = await call('POST', '/scheduling-requests', {
      tenant_id: 'acme',
      recipient: { email: EMAIL, display_name: BODY_MARKER },
      template_sub: 'sgr_e2e_console',
    });
    expect(created.status).toBe(201);
    const id = (JSON.parse(created.text) as { scheduling_request_id: string }).scheduling_request_id;

    const body = JSON.stringify({
      notification: { type: 'scheduling_request_time_chosen', triggered_at: new Date().toISOString() },
      scheduling_request: { scheduling_request_id: id, metadata: { note: BODY_MARKER } },
    });
    expect((await notify('/cronofy/notifications/acme', body, TENANT_SECRET)).status).toBe(202);
    expect((await notify('/cronofy/notifications/acme', `${body} `, 'wrong')).status).toBe(401);
    await expect
      .poll(
        () => printed.some((line) => line.includes(`INSERT notification`) && line.includes('tenant=acme')),
        {
          timeout: 20_000,
        },
      )
      .toBe(true);

    const console = printed.join('\n');
    expect(console).toContain('oauth callback tenantId=acme result=connected');
    for (const secret of [SECRET, TENANT_SECRET, EMBED_SECRET, API_TOKEN, code, state, BODY_MARKER, EMAIL])
      expect(console, secret).not.toContain(secret);
    for (const token of minted) expect(console).not.toContain(token);
    expect(console).not.toMatch(/eyJ|fake_at_|fake_rt_|code=|state=/);
  });
});
