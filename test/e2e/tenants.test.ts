import { randomBytes } from 'node:crypto';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashState } from '#shared/tenants/onboarding.ts';
import { loadLocalConfig } from '../../infra/config.ts';
import { type CronofyFake, startCronofyFake } from '../../infra/local/cronofy-fake.ts';
import { freePort } from '../../infra/local/services.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import { runOps } from '../../infra/ops/cli.ts';
import { localModeEnv } from '../support/local-mode.ts';

/**
 * Onboarding a tenant in local mode, over HTTP end to end: register it, ask for the onboarding URLs, follow the
 * connect URL to the Cronofy fake (which consents at once), back through the gateway's callback (the code is
 * exchanged at the fake), connected; a denied consent; replayed, forged and expired states; onboarding again with
 * the same OU (one authorization at the fake: nothing revoked) and with another (the old one revoked); offboarding
 * revokes at the fake.
 */

const SECRET = 'CRN_e2e_tenants_secret';
const TENANT_SECRET = 'CRN_e2e_tenant_internal_app_secret';
const SUCCESS = 'https://ats.example.com/cronofy/connected';
const FAILED = 'https://ats.example.com/cronofy/failed';

let stack: LocalStack;
let fake: CronofyFake;

beforeAll(async () => {
  const port = await freePort();
  fake = await startCronofyFake({ clientSecret: SECRET, rateLimit: false });
  const env = {
    CRONOFY_CLIENT_SECRETS: SECRET,
    CRONOFY_EMBED_PUBLIC_KEY: 'EMB_e2e_tenants',
    CRONOFY_EMBED_SECRET: 'ESK_e2e_tenants',
  };
  const config = loadLocalConfig(env);
  config.config.onboarding = { successUrl: SUCCESS, errorUrl: FAILED };
  stack = await startLocalStack({
    port,
    quiet: true,
    tableName: `e2e-tenants-${process.pid}`,
    cronofyApiUrl: fake.url,
    config,
    env,
  });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  await fake?.close();
});

async function api(method: string, path: string, body?: unknown, auth = true) {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: {
      ...(auth ? { authorization: `Bearer ${stack.apiToken}` } : {}),
      'content-type': 'application/json',
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text || '{}') as Record<string, string> };
}

/** Follow one redirect by hand (the browser's next step), answering the status and where it points. */
async function step(url: string): Promise<{ status: number; location: string; text: string }> {
  const response = await fetch(url, { redirect: 'manual' });
  return {
    status: response.status,
    location: response.headers.get('location') ?? '',
    text: await response.text(),
  };
}

/** `npm run ops -- reconcile <id> --json`: another process, which reads the tenant's stored credential afresh. */
async function reconcile(id: string): Promise<{ code: number; report: Record<string, unknown> }> {
  const out: string[] = [];
  const env = { ...localModeEnv(stack), CRONOFY_API_PORT: String(fake.port), CRONOFY_CLIENT_SECRETS: SECRET };
  const code = await runOps(['reconcile', id, '--json'], {
    stdout: (text) => out.push(text),
    stderr: (text) => out.push(text),
    env,
  });
  return { code, report: JSON.parse(out.at(-1) ?? '{}') };
}

async function onboarding(tenantId: string): Promise<{ connectUrl: string; signUpUrl: string }> {
  const answer = await api('POST', `/tenants/${tenantId}/onboarding`);
  expect(answer.status).toBe(200);
  return { connectUrl: answer.body.connect_url ?? '', signUpUrl: answer.body.sign_up_url ?? '' };
}

describe('onboarding a tenant in local mode', () => {
  let callbackUrl = '';

  it('registers the tenant (201) and reads it back without its secret', async () => {
    const created = await api('PUT', '/tenants/acme', { name: 'Acme Corp', client_secrets: [TENANT_SECRET] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      tenant_id: 'acme',
      status: 'registered',
      notification_url: `${stack.url}/cronofy/notifications/acme`,
      client_secrets_count: 1,
    });
    const read = await api('GET', '/tenants/acme');
    expect(read.body.status).toBe('registered');
    expect(read.text).not.toContain(TENANT_SECRET);
  });

  it('refuses the tenant routes without the local credential', async () => {
    expect((await api('GET', '/tenants/acme', undefined, false)).status).toBeGreaterThanOrEqual(401);
    expect((await api('PUT', '/tenants/x', { name: 'X' }, false)).status).toBeGreaterThanOrEqual(401);
  });

  it('connects through the fake: connect_url → consent → callback → exchange → connected → successUrl', async () => {
    const { connectUrl, signUpUrl } = await onboarding('acme');
    expect(connectUrl.startsWith(`${fake.url}/oauth/authorize?`)).toBe(true);
    expect(signUpUrl.startsWith(`${fake.url}/sign_up?style=embedded&embedded_authtoken=`)).toBe(true);
    const consent = await step(connectUrl);
    expect(consent.status).toBe(302);
    callbackUrl = consent.location;
    expect(callbackUrl.startsWith(`${stack.url}/oauth/cronofy/callback?`)).toBe(true);
    const exchangesBefore = fake.stats.tokenExchanges;
    const back = await step(callbackUrl);
    expect(back.status).toBe(302);
    expect(back.location).toBe(`${SUCCESS}?tenant_id=acme`);
    expect(fake.stats.tokenExchanges).toBe(exchangesBefore + 1);
    const read = await api('GET', '/tenants/acme');
    expect(read.body.status).toBe('connected');
    expect(read.body.connected_at).toBeDefined();
  });

  it('refuses the same callback again (the state works once): a 400 page, no second exchange', async () => {
    const exchangesBefore = fake.stats.tokenExchanges;
    const replay = await step(callbackUrl);
    expect(replay.status).toBe(400);
    expect(replay.location).toBe('');
    expect(fake.stats.tokenExchanges).toBe(exchangesBefore);
  });

  it('refuses a forged state and an expired one with a 400 page', async () => {
    const forged = await step(
      `${stack.url}/oauth/cronofy/callback?code=x&state=${randomBytes(32).toString('base64url')}`,
    );
    expect(forged.status).toBe(400);
    expect(forged.text).not.toContain('code=x');
    // A state handed out 31 minutes ago, as the table would hold it until its TTL removes it.
    const expired = randomBytes(32).toString('base64url');
    await stack.clients.dynamodb.send(
      new PutItemCommand({
        TableName: stack.tenantsTableName,
        Item: {
          pk: { S: `oauth_state#${hashState(expired)}` },
          entity: { S: 'oauth_state' },
          tenant_id: { S: 'acme' },
          expires_at: { N: String(Math.floor(Date.now() / 1000) - 60) },
        },
      }),
    );
    expect((await step(`${stack.url}/oauth/cronofy/callback?code=x&state=${expired}`)).status).toBe(400);
    expect((await step(`${stack.url}/oauth/cronofy/callback?code=x`)).status).toBe(400);
  });

  it('sends a denied consent to errorUrl with error=access_denied, and the tenant stays as it was', async () => {
    await api('PUT', '/tenants/globex', { name: 'Globex' });
    const { connectUrl } = await onboarding('globex');
    const consent = await step(`${connectUrl}&fake_consent=deny`);
    const back = await step(consent.location);
    expect(back.status).toBe(302);
    expect(back.location).toBe(`${FAILED}?tenant_id=globex&error=access_denied`);
    expect((await api('GET', '/tenants/globex')).body.status).toBe('registered');
  });

  it('lists the tenants', async () => {
    const listed = await api('GET', '/tenants');
    expect(listed.status).toBe(200);
    const ids = (listed.body.tenants as unknown as { tenant_id: string }[]).map((t) => t.tenant_id).sort();
    expect(ids).toEqual(['acme', 'globex']);
  });

  it('npm run ops -- tenant list|show reads the tenants, never a token, a secret or a ciphertext', async () => {
    const out: string[] = [];
    const io = {
      stdout: (text: string) => out.push(text),
      stderr: (text: string) => out.push(text),
      env: localModeEnv(stack),
    };
    expect(await runOps(['tenant', 'list'], io)).toBe(0);
    expect(out.join('\n')).toMatch(/acme\s+connected\s+1/);
    expect(await runOps(['tenant', 'show', 'acme'], io)).toBe(0);
    const shown = JSON.parse(out.at(-1) ?? '{}');
    expect(shown).toMatchObject({ tenant_id: 'acme', name: 'Acme Corp', status: 'connected' });
    expect(Date.parse(shown.credential.access_token_expires_at)).toBeGreaterThan(Date.now());
    expect(await runOps(['tenant', 'show', 'nobody'], io).catch(() => 1)).toBe(1);
    const printed = out.join('\n');
    for (const secret of [TENANT_SECRET, 'fake_at_', 'fake_rt_', '"v1.'])
      expect(printed).not.toContain(secret);
  });

  it('npm run ops -- reconcile (another process than npm start) reconciles a tenant request with its token', async () => {
    const created = await api('POST', '/scheduling-requests', {
      tenant_id: 'acme',
      recipient: { email: 'candidate@example.com', display_name: 'Candidate' },
      template_sub: 'sgr_e2e_tenants',
    });
    expect(created.status).toBe(201);
    const id = created.body.scheduling_request_id ?? '';
    expect(fake.organizationalUnitOf(id)).toMatch(/^ou_/);
    // Booked at Cronofy without a notification: only reconciliation can bring it in.
    const booked = await fetch(`${fake.url}/_fake/scheduling_requests/${id}/time_chosen`, {
      method: 'POST',
      body: JSON.stringify({ notify: false }),
    });
    expect(booked.status).toBe(200);
    const { code, report } = await reconcile(id);
    expect(report).toMatchObject({ changed: [id], skipped: [], notFound: [], failed: [] });
    expect(code).toBe(0);
  });

  const createFor = (tenantId: string, who: string) =>
    api('POST', '/scheduling-requests', {
      tenant_id: tenantId,
      recipient: { email: `${who}@example.com`, display_name: who },
      template_sub: 'sgr_e2e_tenants',
    });

  it("onboarding a connected tenant again with its own OU keeps it connected: the fake's one authorization of that OU is not revoked", async () => {
    const before = await createFor('acme', 'same-before');
    expect(before.status).toBe(201);
    const ou = fake.organizationalUnitOf(before.body.scheduling_request_id ?? '') ?? '';
    expect(ou).toMatch(/^ou_/);
    const revocationsBefore = fake.stats.tokenRevocations;
    const consent = await step(`${(await onboarding('acme')).connectUrl}&fake_ou=${ou}`);
    expect((await step(consent.location)).location).toBe(`${SUCCESS}?tenant_id=acme`);
    expect(fake.stats.tokenRevocations).toBe(revocationsBefore);
    const after = await createFor('acme', 'same-after');
    expect(after.status).toBe(201);
    expect(fake.organizationalUnitOf(after.body.scheduling_request_id ?? '')).toBe(ou);
    // Every access token expires: another process, reading the stored credential, refreshes it with the refresh
    // token stored for the new consent, which the fake still honours.
    expect((await fetch(`${fake.url}/_fake/tokens/expire`, { method: 'POST' })).status).toBe(200);
    const refreshesBefore = fake.stats.tokenRefreshes;
    const { code, report } = await reconcile(after.body.scheduling_request_id ?? '');
    expect(report).toMatchObject({ failed: [], skipped: [] });
    expect(code).toBe(0);
    expect(fake.stats.tokenRefreshes).toBe(refreshesBefore + 1);
    expect((await api('GET', '/tenants/acme')).body.status).toBe('connected');
  });

  it('onboarding a connected tenant again with another OU revokes the previous authorization at the fake; the new one works', async () => {
    const before = await createFor('acme', 'before');
    expect(before.status).toBe(201);
    const revocationsBefore = fake.stats.tokenRevocations;
    const consent = await step((await onboarding('acme')).connectUrl);
    expect((await step(consent.location)).location).toBe(`${SUCCESS}?tenant_id=acme`);
    expect(fake.stats.tokenRevocations).toBe(revocationsBefore + 1);
    // The scheduling-requests function may still hold the revoked token: Cronofy's 401 sends it to the new one.
    const after = await createFor('acme', 'after');
    expect(after.status).toBe(201);
    const ouOf = (answer: typeof after) => fake.organizationalUnitOf(answer.body.scheduling_request_id ?? '');
    expect(ouOf(after)).not.toBe(ouOf(before));
    expect((await api('GET', '/tenants/acme')).body.status).toBe('connected');
  });

  it('offboards: revokes at the fake, forgets credentials, status disconnected', async () => {
    const revocationsBefore = fake.stats.tokenRevocations;
    const deleted = await api('DELETE', '/tenants/acme');
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ status: 'disconnected', revoked: true, client_secrets_count: 0 });
    expect(fake.stats.tokenRevocations).toBe(revocationsBefore + 1);
    expect((await api('GET', '/tenants/acme')).body.status).toBe('disconnected');
  });

  it('answers 400 for a tenant id that is not one', async () => {
    const answer = await api('PUT', `/tenants/${'x'.repeat(65)}`, { name: 'X' });
    expect(answer.status).toBe(400);
  });
});
