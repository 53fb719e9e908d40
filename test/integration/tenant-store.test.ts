import { type DynamoDBClient, GetItemCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalAesCipher } from '#shared/aws/kms-cipher.ts';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { tenantDirectoryFromEnv } from '#shared/aws/tenant-directory.ts';
import { DynamoTenantStore } from '#shared/aws/tenant-store.ts';
import { TenantUnavailableError, UpstreamUnavailableError } from '#shared/core/errors.ts';
import { silentLogger } from '#shared/core/logger.ts';
import { secretsCredentialProvider } from '#shared/cronofy/credentials.ts';
import { cronofyClient } from '#shared/cronofy/from-env.ts';
import { makeCronofyOAuth } from '#shared/cronofy/oauth-client.ts';
import { LEASE_MS, tenantCredentialProvider } from '#shared/tenants/credentials.ts';
import { type CronofyFake, startCronofyFake } from '../../infra/local/cronofy-fake.ts';
import {
  createTenantsTable,
  dynamoClient,
  freePort,
  type RunningService,
  startDynamoDb,
} from '../../infra/local/services.ts';
import { LOCAL_CLIENT_ID } from '../../infra/local-mode.ts';

/**
 * The tenants table adapter against DynamoDB Local and Organization Connect against the Cronofy fake:
 * credentials encrypted at rest (the raw items hold no plaintext, a ciphertext moved to another tenant does not
 * decrypt), single-use OAuth states under concurrency, listing, offboarding, and the refresh race: many
 * functions needing an expired token at once make exactly one refresh at Cronofy.
 */

const APP_SECRET = 'CRN_integration_app_secret';
const TENANT_SECRET = 'CRN_integration_tenant_secret';
const secrets = new StaticSecrets({
  clientSecrets: [APP_SECRET],
  embedPublicKey: 'EMB_i',
  embedSecret: 'ESK_i',
});

let dynamo: RunningService;
let ddb: DynamoDBClient;
let fake: CronofyFake;
const tableName = `tenants-${process.pid}`;
const cipher = new LocalAesCipher();
let store: DynamoTenantStore;

beforeAll(async () => {
  [dynamo, fake] = await Promise.all([
    freePort().then((port) => startDynamoDb(port)),
    startCronofyFake({ clientSecret: APP_SECRET, rateLimit: false }),
  ]);
  ddb = dynamoClient(dynamo.endpoint);
  await createTenantsTable(ddb, tableName);
  store = new DynamoTenantStore(ddb, tableName, cipher);
}, 60_000);
afterAll(async () => {
  ddb?.destroy();
  await Promise.all([dynamo?.stop(), fake?.close()]);
});

const oauth = () => makeCronofyOAuth({ baseUrl: fake.url, clientId: LOCAL_CLIENT_ID, secrets });
const iso = () => new Date().toISOString();
const raw = async (pk: string) =>
  (await ddb.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: pk } }, ConsistentRead: true })))
    .Item;

/** Organization Connect at the fake, as the callback does it: consent, then exchange the code. */
async function connectAtFake(
  tenantId: string,
  options: { expired?: boolean; ou?: string } = {},
): Promise<{ accessToken: string; refreshToken: string; sub?: string }> {
  const redirectUri = 'http://127.0.0.1:1/oauth/cronofy/callback';
  const authorize = new URL('/oauth/authorize', fake.url);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: LOCAL_CLIENT_ID,
    redirect_uri: redirectUri,
    scope: 'organizational_unit_scheduler',
    state: 's',
    ...(options.ou ? { fake_ou: options.ou } : {}),
  }))
    authorize.searchParams.set(k, v);
  const consent = await fetch(authorize, { redirect: 'manual' });
  if (consent.status !== 302) throw new Error(`the fake refused the consent: ${consent.status}`);
  const code = new URL(consent.headers.get('location') ?? '').searchParams.get('code') ?? '';
  const tokens = await oauth().exchangeCode(code, redirectUri);
  const refreshToken = tokens.refreshToken ?? '';
  if (!(await store.getTenant(tenantId))) await store.putTenant(tenantId, { name: tenantId }, iso());
  // An expired token as this service sees it: the next get() must refresh it.
  const expiresAt = options.expired ? Date.now() - 1000 : Date.now() + tokens.expiresIn * 1000;
  const sub = tokens.sub === undefined ? {} : { sub: tokens.sub };
  await store.connect(tenantId, { accessToken: tokens.accessToken, refreshToken, expiresAt, ...sub }, iso());
  return { accessToken: tokens.accessToken, refreshToken, ...sub };
}

describe('encryption at rest', () => {
  it('keeps no plaintext token or client secret in the raw items; names and statuses stay readable', async () => {
    await store.putTenant('enc', { name: 'Encrypted Co', clientSecrets: [TENANT_SECRET] }, iso());
    const { accessToken, refreshToken } = await connectAtFake('enc');
    const items = JSON.stringify([await raw('tenant#enc'), await raw('credential#enc')]);
    for (const plaintext of [TENANT_SECRET, accessToken, refreshToken])
      expect(items).not.toContain(plaintext);
    expect(items).toContain('Encrypted Co');
    // …and the adapter reads them back.
    expect(await store.tenantClientSecrets('enc')).toEqual([TENANT_SECRET]);
    expect(await store.getCredential('enc')).toMatchObject({ accessToken, refreshToken });
  });

  it('refuses a ciphertext moved to another tenant', async () => {
    await connectAtFake('victim');
    await connectAtFake('thief');
    const victim = await raw('credential#victim');
    const thief = await raw('credential#thief');
    await ddb.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { ...thief, access_token: victim?.access_token ?? { S: '' }, pk: { S: 'credential#thief' } },
      }),
    );
    await expect(store.getCredential('thief')).rejects.toThrow(/decryption failed/);
  });
});

describe('OAuth states', () => {
  it('gives a state to exactly one of many concurrent callbacks, and never after it expired', async () => {
    const now = Math.floor(Date.now() / 1000);
    await store.putOAuthState('a'.repeat(64), 'acme', now + 60, now * 1000 + 250);
    const taken = await Promise.all(
      Array.from({ length: 10 }, () => store.takeOAuthState('a'.repeat(64), now)),
    );
    expect(taken.filter((t) => t?.tenantId === 'acme')).toEqual([
      { tenantId: 'acme', issuedAt: now * 1000 + 250 },
    ]);
    await store.putOAuthState('b'.repeat(64), 'acme', now + 60, now * 1000);
    expect(await store.takeOAuthState('b'.repeat(64), now + 60)).toBeUndefined();
    expect(await store.takeOAuthState('c'.repeat(64), now)).toBeUndefined();
  });

  it('reads a state written before milliseconds were kept (issued_at in seconds only)', async () => {
    const now = Math.floor(Date.now() / 1000);
    await ddb.send(
      new PutItemCommand({
        TableName: tableName,
        Item: marshall({
          pk: `oauth_state#${'d'.repeat(64)}`,
          entity: 'oauth_state',
          tenant_id: 'acme',
          expires_at: now + 60,
          issued_at: now,
        }),
      }),
    );
    expect(await store.takeOAuthState('d'.repeat(64), now)).toEqual({
      tenantId: 'acme',
      issuedAt: now * 1000,
    });
  });
});

describe('listing and offboarding', () => {
  it('lists every tenant once across pages, whatever other items the table holds', async () => {
    for (let i = 0; i < 25; i++) await store.putTenant(`list-${i}`, { name: `L${i}` }, iso());
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listTenants(cursor, 7);
      seen.push(...page.tenants.map((t) => t.tenantId));
      cursor = page.cursor;
    } while (cursor);
    expect(seen.filter((id) => id.startsWith('list-')).sort()).toEqual(
      Array.from({ length: 25 }, (_, i) => `list-${i}`).sort(),
    );
    expect(new Set(seen).size).toBe(seen.length);
    await expect(store.listTenants('bm90IGEga2V5', 5)).rejects.toThrow(/cursor/);
  });

  it('counts the tenants per status across pages, whatever other items the table holds', async () => {
    const before = await store.countTenants();
    await store.putTenant('count-a', { name: 'A' }, iso());
    await store.putTenant('count-b', { name: 'B', clientSecrets: [TENANT_SECRET] }, iso());
    await connectAtFake('count-b');
    await store.putTenant('count-c', { name: 'C' }, iso());
    await store.offboard('count-c', iso());
    await store.putOAuthState('state-hash-count', 'count-a', Math.floor(Date.now() / 1000) + 600, Date.now());
    const after = await store.countTenants();
    expect({
      registered: after.registered - before.registered,
      connected: after.connected - before.connected,
      disconnected: after.disconnected - before.disconnected,
    }).toEqual({ registered: 1, connected: 1, disconnected: 1 });
  });

  it('offboarding forgets the credential and the client secrets; registering again brings the tenant back', async () => {
    await store.putTenant('leaver', { name: 'Leaver', clientSecrets: [TENANT_SECRET] }, iso());
    await connectAtFake('leaver');
    await store.offboard('leaver', iso());
    expect(await raw('credential#leaver')).toBeUndefined();
    expect((await raw('tenant#leaver'))?.client_secrets).toBeUndefined();
    expect(await store.tenantClientSecrets('leaver')).toBeUndefined();
    expect(await store.getTenant('leaver')).toMatchObject({ status: 'disconnected', clientSecretsCount: 0 });
    // A connect URL handed out before the offboarding cannot reconnect it.
    expect(
      await store.connect('leaver', { accessToken: 'a', refreshToken: 'r', expiresAt: Date.now() }, iso()),
    ).toBe(false);
    expect(await raw('credential#leaver')).toBeUndefined();
    await store.putTenant('leaver', { clientSecrets: ['CRN_new'] }, iso());
    expect(await store.tenantClientSecrets('leaver')).toEqual(['CRN_new']);
    // The offboarding is remembered: connect URLs handed out before it stay useless.
    const back = await store.getTenant('leaver');
    expect(back?.offboardedAt).toBeUndefined();
    expect(back?.lastOffboardedAt).toMatch(/^\d{4}-/);
  });

  it('offboards on the condition that the credential is still the one read (a refresh in between is read again)', async () => {
    await store.putTenant('racing', { name: 'Racing' }, iso());
    await connectAtFake('racing');
    const read = await store.getCredential('racing');
    if (!read) throw new Error('no credential');
    await store.saveRefreshed('racing', read.generation, {
      accessToken: 'at_rotated',
      refreshToken: 'rt_rotated',
      expiresAt: Date.now() + 3_600_000,
    });
    expect(await store.offboard('racing', iso(), { generation: read.generation })).toBe(false);
    expect(await store.getTenant('racing')).toMatchObject({ status: 'connected' });
    expect(await store.offboard('racing', iso(), { generation: undefined })).toBe(false);
    const again = await store.getCredential('racing');
    expect(again?.refreshToken).toBe('rt_rotated');
    expect(await store.offboard('racing', iso(), { generation: again?.generation })).toBe(true);
    expect(await raw('credential#racing')).toBeUndefined();
    const offboarded = await store.getTenant('racing');
    expect(offboarded).toMatchObject({ status: 'disconnected' });
    // A second, concurrent offboarding (it read the credential before the first deleted it) changes nothing.
    expect(
      await store.offboard('racing', new Date(Date.now() + 5_000).toISOString(), { generation: undefined }),
    ).toBe(false);
    expect(await store.getTenant('racing')).toEqual(offboarded);
    // Without a credential: offboarded on the condition that there is none.
    await store.putTenant('never-connected', { name: 'N' }, iso());
    expect(await store.offboard('never-connected', iso(), { generation: undefined })).toBe(true);
  });
});

describe('connecting a connected tenant again', () => {
  it('replaces the credential only while it is the one read; a refresh keeps the connection, a connect makes a new one', async () => {
    await store.putTenant('again', { name: 'Again' }, iso());
    const tokens = { accessToken: 'at_first', refreshToken: 'rt_first', expiresAt: Date.now() + 3_600_000 };
    // Nothing stored yet: connected on the condition that there is no credential.
    expect(await store.connect('again', tokens, iso(), { expected: { generation: 1 } })).toBe(false);
    expect(await store.connect('again', tokens, iso(), { expected: { generation: undefined } })).toBe(true);
    const first = await store.getCredential('again');
    if (!first) throw new Error('no credential');
    expect(first.connectionId).toMatch(/^[0-9a-f-]{36}$/);
    await store.saveRefreshed('again', first.generation, { ...tokens, refreshToken: 'rt_rotated' });
    const refreshed = await store.getCredential('again');
    expect(refreshed).toMatchObject({ refreshToken: 'rt_rotated', connectionId: first.connectionId });
    const second = { accessToken: 'at_second', refreshToken: 'rt_second', expiresAt: Date.now() + 3_600_000 };
    // The refresh moved the generation on: the credential read before it is not replaced.
    expect(await store.connect('again', second, iso(), { expected: { generation: first.generation } })).toBe(
      false,
    );
    expect((await store.getCredential('again'))?.refreshToken).toBe('rt_rotated');
    expect(
      await store.connect('again', second, iso(), { expected: { generation: refreshed?.generation } }),
    ).toBe(true);
    const replaced = await store.getCredential('again');
    expect(replaced?.refreshToken).toBe('rt_second');
    expect(replaced?.connectionId).not.toBe(first.connectionId);
    expect(await store.getTenant('again')).toMatchObject({ status: 'connected' });
  });

  it("keeps the OU's id (plain, beside the ciphertexts) through refreshes, takes a new one a refresh carries, and reads credentials without one", async () => {
    await store.putTenant('ou-sub', { name: 'OU sub' }, iso());
    const tokens = { accessToken: 'at_s', refreshToken: 'rt_s', expiresAt: Date.now() + 3_600_000 };
    await store.connect('ou-sub', { ...tokens, sub: 'ou_first' }, iso());
    expect((await raw('credential#ou-sub'))?.ou_sub).toEqual({ S: 'ou_first' });
    const first = await store.getCredential('ou-sub');
    expect(first?.sub).toBe('ou_first');
    await store.saveRefreshed('ou-sub', first?.generation ?? 0, { ...tokens, refreshToken: 'rt_s2' });
    const kept = await store.getCredential('ou-sub');
    expect(kept).toMatchObject({ refreshToken: 'rt_s2', sub: 'ou_first' });
    await store.saveRefreshed('ou-sub', kept?.generation ?? 0, { ...tokens, sub: 'ou_moved' });
    expect((await store.getCredential('ou-sub'))?.sub).toBe('ou_moved');
    // A credential stored before the OU id was kept (or from an answer without one) reads without it.
    await store.connect('ou-sub', tokens, iso());
    const bare = await store.getCredential('ou-sub');
    expect(bare).toMatchObject({ refreshToken: 'rt_s' });
    expect(bare && 'sub' in bare).toBe(false);
  });

  it("stores a new connection above the generation it replaces, whatever the writer's clock says: a refresher of the old one cannot lease it", async () => {
    await store.putTenant('skewed', { name: 'Skewed' }, iso());
    const at = iso();
    const tokens = { accessToken: 'at_old', refreshToken: 'rt_old', expiresAt: Date.now() - 1000 };
    expect(await store.connect('skewed', tokens, at)).toBe(true);
    const old = await store.getCredential('skewed');
    if (!old) throw new Error('no credential');
    // Onboarded again within the same millisecond (or by a function whose clock lags by one refresh's worth).
    const next = { accessToken: 'at_new', refreshToken: 'rt_new', expiresAt: Date.now() + 3_600_000 };
    const conditions = { expected: { generation: old.generation }, after: old.generation };
    expect(await store.connect('skewed', next, at, conditions)).toBe(true);
    const replaced = await store.getCredential('skewed');
    expect(replaced?.generation).toBeGreaterThan(old.generation);
    expect(
      await store.takeRefreshLease('skewed', old.generation, 'lease_old', Date.now(), Date.now() + 1),
    ).toBe(false);
  });

  it('refuses a consent whose state was handed out before the last offboarding, even after registering again', async () => {
    const tokens = { accessToken: 'at', refreshToken: 'rt', expiresAt: Date.now() + 3_600_000 };
    await store.putTenant('returning', { name: 'Returning' }, iso());
    const issuedAt = Date.now() - 60_000;
    await store.offboard('returning', iso());
    await store.putTenant('returning', { name: 'Returning again' }, iso());
    expect(await store.connect('returning', tokens, iso(), { stateIssuedAt: issuedAt })).toBe(false);
    expect(await raw('credential#returning')).toBeUndefined();
    expect(await store.getTenant('returning')).toMatchObject({ status: 'disconnected' });
    // A state handed out after it connects.
    const later = Date.now() + 1;
    expect(await store.connect('returning', tokens, iso(), { stateIssuedAt: later })).toBe(true);
    expect(await store.getTenant('returning')).toMatchObject({ status: 'connected' });
  });
});

describe('the refresh race', () => {
  it('20 functions needing an expired token at once: exactly one refresh at Cronofy, every one gets the new token', async () => {
    const { accessToken } = await connectAtFake('race', { expired: true });
    // …and at Cronofy too.
    await fetch(`${fake.url}/_fake/tokens/expire`, { method: 'POST' });
    const before = fake.stats.tokenRefreshes;
    // One provider per function: no shared memory, only the table and its lease.
    const functions = Array.from({ length: 20 }, () =>
      tenantCredentialProvider({
        fallback: secretsCredentialProvider(secrets),
        store: new DynamoTenantStore(ddb, tableName, cipher),
        oauth: oauth(),
        clock: () => new Date(),
        logger: silentLogger,
      }),
    );
    const tokens = await Promise.all(functions.map((provider) => provider.get('race')));
    expect(fake.stats.tokenRefreshes - before).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(accessToken);
    expect(await store.getTenant('race')).toMatchObject({ status: 'connected' });
    // The token works at Cronofy.
    const answer = await fetch(`${fake.url}/v1/scheduling_requests/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[0]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scheduling_request_ids: ['srq_none'] }),
    });
    expect(answer.status).toBe(200);
  });

  it('a refresher slower than its lease keeps the rotated refresh token; the one that overtook it does not disconnect', async () => {
    await connectAtFake('slow', { expired: true });
    let clock = Date.now();
    const functionOf = (
      refresh: (token: string) => Promise<Awaited<ReturnType<ReturnType<typeof oauth>['refresh']>>>,
    ) =>
      tenantCredentialProvider({
        fallback: secretsCredentialProvider(secrets),
        store: new DynamoTenantStore(ddb, tableName, cipher),
        oauth: { refresh },
        clock: () => new Date(clock),
        logger: silentLogger,
        sleep: async (ms) => {
          clock += ms;
        },
      });
    const second = functionOf((token) => oauth().refresh(token));
    let overtaken: unknown;
    const first = functionOf(async (token) => {
      // The fake rotates: once it has answered, the refresh token the second function will send is used up.
      const tokens = await oauth().refresh(token);
      clock += LEASE_MS + 1;
      overtaken = await second.get('slow').catch((error: unknown) => error);
      return tokens;
    });
    const token = await first.get('slow');
    expect(overtaken).toBeInstanceOf(UpstreamUnavailableError);
    expect(await store.getTenant('slow')).toMatchObject({ status: 'connected' });
    // The saved refresh token is the live one: the next refresh works.
    clock += 2 * 3_600_000;
    const next = await functionOf((refresh) => oauth().refresh(refresh)).get('slow');
    expect(next).not.toBe(token);
    expect(await store.getTenant('slow')).toMatchObject({ status: 'connected' });
  });

  it('a tenant whose admin removed the app is disconnected on the next refresh (invalid_grant)', async () => {
    const { accessToken } = await connectAtFake('removed', { expired: true });
    const created = await fetch(`${fake.url}/v1/scheduling_requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        template: { sub: 'sgr_x' },
        recipients: [{ email: 'a@example.com', slot_selector: true }],
      }),
    });
    const id = ((await created.json()) as { scheduling_request: { scheduling_request_id: string } })
      .scheduling_request.scheduling_request_id;
    const shown = (await (await fetch(`${fake.url}/_fake/scheduling_requests/${id}`)).json()) as {
      organizational_unit: string;
    };
    const ou = shown.organizational_unit;
    expect(ou).toMatch(/^ou_/);
    await fetch(`${fake.url}/_fake/organizational_units/${ou}/disconnect`, { method: 'POST' });
    const disconnected: string[] = [];
    const provider = tenantCredentialProvider({
      fallback: secretsCredentialProvider(secrets),
      store,
      oauth: oauth(),
      clock: () => new Date(),
      logger: silentLogger,
      onDisconnected: (tenantId) => disconnected.push(tenantId),
    });
    await expect(provider.get('removed')).rejects.toBeInstanceOf(TenantUnavailableError);
    expect(disconnected).toEqual(['removed']);
    expect(await store.getTenant('removed')).toMatchObject({ status: 'disconnected' });
    expect(await raw('credential#removed')).toBeUndefined();
  });
});

describe("the fake's Organizational Units", () => {
  const v1 = (path: string, bearer: string, body: unknown) =>
    fetch(`${fake.url}/v1/scheduling_requests${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  /** A scheduling request created at the fake with `bearer`: its id. */
  const createIn = async (bearer: string) => {
    const created = await v1('', bearer, {
      template: { sub: 'sgr_x' },
      recipients: [{ email: 'a@example.com', slot_selector: true }],
    });
    return ((await created.json()) as { scheduling_request: { scheduling_request_id: string } })
      .scheduling_request.scheduling_request_id;
  };

  it("keeps each scheduling request in its OU: another OU's token and the single-tenant credential get 404", async () => {
    const a = await connectAtFake('ou-a');
    const b = await connectAtFake('ou-b');
    const id = await createIn(a.accessToken);
    expect((await v1('/cancel', b.accessToken, { scheduling_request_id: id })).status).toBe(404);
    expect((await v1('/cancel', APP_SECRET, { scheduling_request_id: id })).status).toBe(404);
    const queried = await v1('/query', APP_SECRET, { scheduling_request_ids: [id] });
    expect(((await queried.json()) as { scheduling_requests: unknown[] }).scheduling_requests).toEqual([]);
    expect((await v1('/cancel', a.accessToken, { scheduling_request_id: id })).status).toBe(202);
    // The single-tenant credential keeps its own requests as before.
    const single = await v1('', APP_SECRET, {
      template: { sub: 'sgr_x' },
      recipients: [{ email: 'a@example.com', slot_selector: true }],
    });
    expect(single.status).toBe(200);
  });

  it("fake_ou=<id> consents for an existing OU (its requests are the new token's too); an unknown one is a 400", async () => {
    const first = await connectAtFake('ou-d');
    const id = await createIn(first.accessToken);
    const shown = (await (await fetch(`${fake.url}/_fake/scheduling_requests/${id}`)).json()) as {
      organizational_unit: string;
    };
    expect(shown.organizational_unit).toMatch(/^ou_/);
    const again = await connectAtFake('ou-d2', { ou: shown.organizational_unit });
    const queried = await v1('/query', again.accessToken, { scheduling_request_ids: [id] });
    expect(((await queried.json()) as { scheduling_requests: unknown[] }).scheduling_requests).toHaveLength(
      1,
    );
    // Without fake_ou, each consent is a new OU: that token does not see the request.
    const other = await connectAtFake('ou-d3');
    const hidden = await v1('/query', other.accessToken, { scheduling_request_ids: [id] });
    expect(((await hidden.json()) as { scheduling_requests: unknown[] }).scheduling_requests).toEqual([]);
    await expect(connectAtFake('ou-d4', { ou: 'ou_unknown' })).rejects.toThrow();
  });

  it('answers sub = the OU; a consent of an OU with a live authorization joins it: revoking any of its tokens ends them all', async () => {
    const first = await connectAtFake('ou-g1');
    expect(first.sub).toMatch(/^ou_/);
    const ou = first.sub ?? '';
    const second = await connectAtFake('ou-g2', { ou });
    expect(second.sub).toBe(ou);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect((await createIn(second.accessToken)).length).toBeGreaterThan(0);
    // Revoking the first consent's refresh token revokes the one authorization: the second consent's tokens too.
    await oauth().revoke(first.refreshToken);
    expect((await v1('/query', second.accessToken, { scheduling_request_ids: ['srq_x'] })).status).toBe(401);
    await expect(oauth().refresh(second.refreshToken)).rejects.toThrow(/refused the grant/);
    // A consent after that is a new authorization of the same OU, which the revocation did not touch.
    const third = await connectAtFake('ou-g3', { ou });
    expect(third.sub).toBe(ou);
    expect((await oauth().refresh(third.refreshToken)).sub).toBe(ou);
  });

  it('refuses a code twice and an expired access token', async () => {
    const { accessToken } = await connectAtFake('ou-c');
    await fetch(`${fake.url}/_fake/tokens/expire`, { method: 'POST' });
    expect((await v1('/query', accessToken, { scheduling_request_ids: ['srq_x'] })).status).toBe(401);
    await expect(oauth().exchangeCode('fake_code_unknown', 'http://127.0.0.1:1/cb')).rejects.toThrow(
      /refused the grant/,
    );
  });
});

describe('calling Cronofy for a tenant through the API client', () => {
  function client() {
    return cronofyClient({
      dataCenter: 'us',
      apiUrl: fake.url,
      rateLimit: { perSecond: 50, perMinute: 500 },
      secrets,
      credentials: tenantCredentialProvider({
        fallback: secretsCredentialProvider(secrets),
        store,
        oauth: oauth(),
        clock: () => new Date(),
        logger: silentLogger,
      }),
      logger: silentLogger,
    });
  }
  const template = {
    recipient: { email: 'c@example.com', displayName: 'C' },
    source: { kind: 'template', sub: 'sgr_x' },
  } as const;

  it("creates in the tenant's OU; without a tenant, with the single-tenant credential as before", async () => {
    await connectAtFake('api-a');
    const api = client();
    const forTenant = await api.createSchedulingRequest(template, { tenant: 'api-a' });
    expect(fake.organizationalUnitOf(forTenant.scheduling_request_id)).toMatch(/^ou_/);
    const single = await api.createSchedulingRequest(template);
    expect(fake.organizationalUnitOf(single.scheduling_request_id)).toBeUndefined();
    // Each sees its own request only.
    expect(await api.querySchedulingRequests([single.scheduling_request_id], { tenant: 'api-a' })).toEqual(
      [],
    );
  });

  it("refreshes once after Cronofy's 401 for a token this service still thinks valid, and the call succeeds", async () => {
    await connectAtFake('api-b');
    const api = client();
    await api.createSchedulingRequest(template, { tenant: 'api-b' });
    await fetch(`${fake.url}/_fake/tokens/expire`, { method: 'POST' });
    const before = fake.stats.tokenRefreshes;
    const created = await api.createSchedulingRequest(template, { tenant: 'api-b' });
    expect(fake.organizationalUnitOf(created.scheduling_request_id)).toMatch(/^ou_/);
    expect(fake.stats.tokenRefreshes - before).toBe(1);
  });
});

describe("the ingest function's TenantDirectory (DynamoDB's JSON API, no SDK client)", () => {
  it("answers a tenant's client secrets, [] without any, and undefined for an unknown or offboarded tenant", async () => {
    await store.putTenant('dir-a', { name: 'A', clientSecrets: ['CRN_dir_a1', 'CRN_dir_a2'] }, iso());
    await store.putTenant('dir-b', { name: 'B' }, iso());
    await store.putTenant('dir-gone', { name: 'Gone', clientSecrets: ['CRN_gone'] }, iso());
    await store.offboard('dir-gone', iso());
    const directory = tenantDirectoryFromEnv(
      { TENANTS_TABLE_NAME: tableName, TENANTS_KEY_ARN: 'arn:aws:kms:us-east-1:000000000000:key/local' },
      {
        dynamoEndpoint: dynamo.endpoint,
        cipher,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      },
    );
    expect(await directory.clientSecrets('dir-a')).toEqual(['CRN_dir_a1', 'CRN_dir_a2']);
    expect(await directory.clientSecrets('dir-b')).toEqual([]);
    expect(await directory.clientSecrets('dir-gone')).toBeUndefined();
    expect(await directory.clientSecrets('dir-nobody')).toBeUndefined();
  });
});

describe('the tenants table holds only tenant items', () => {
  it('has no entity of the records table (nothing of it reaches the records stream)', async () => {
    const scan = await ddb.send(new ScanCommand({ TableName: tableName }));
    const entities = new Set((scan.Items ?? []).map((item) => item.entity?.S));
    for (const entity of entities) expect(['tenant', 'credential', 'oauth_state']).toContain(entity);
  });
});
