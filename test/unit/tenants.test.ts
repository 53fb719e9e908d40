import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { decodeJwt } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import type { CronofyOAuth } from '#shared/cronofy/oauth.ts';
import { OAuthUnavailableError } from '#shared/cronofy/oauth.ts';
import { hashState, STATE_TTL_SECONDS } from '#shared/tenants/onboarding.ts';
import { makeHandler, type TenantsHandlerDeps } from '../../functions/tenants/handler.ts';
import { capturingLogger } from '../support/capturing-logger.ts';
import { MemoryTenantStore } from '../support/memory-tenant-store.ts';

/**
 * The tenant routes through their handler with an in-memory store and a fake token endpoint: strict bodies,
 * write-only secrets, the OAuth state (unguessable, hashed, bound, single-use, expiring), the callback's
 * outcomes, offboarding, and that no token or secret reaches an answer or a log line.
 */

const API = 'https://api.example.test';
const CALLBACK = `${API}/oauth/cronofy/callback`;
const APP = 'https://app.cronofy.com';
const SECRETS = {
  clientSecrets: ['CRN_app_secret_value'],
  embedPublicKey: 'EMB_public',
  embedSecret: 'ESK_embed_secret_value',
};
const TENANT_SECRET = 'CRN_tenant_internal_app_secret';
const ACCESS = 'at_secret_access_token_value';
const REFRESH = 'rt_secret_refresh_token_value';
const TENANT_ID_RULE = 'tenant_id must be 1 to 64 characters of A-Z a-z 0-9 . _ -, not . or ..';
const IAM = { iam: { userArn: 'arn:aws:iam::123456789012:user/ats' } };

let store: MemoryTenantStore;
let now: number;
let log: ReturnType<typeof capturingLogger>;
let exchanged: { code: string; redirectUri: string }[];
let revoked: string[];
let oauth: CronofyOAuth & { failExchange?: boolean; failRevoke?: boolean };

function deps(overrides: Partial<TenantsHandlerDeps> = {}): TenantsHandlerDeps {
  return {
    store,
    secrets: new StaticSecrets(SECRETS),
    clock: () => new Date(now),
    logger: log.logger,
    apiUrl: API,
    callbackUrl: CALLBACK,
    appUrl: APP,
    clientId: 'app_client_id',
    oauth,
    successUrl: 'https://ats.example.com/cronofy/connected',
    errorUrl: 'https://ats.example.com/cronofy/failed?from=cronofy',
    requireIamAuthorizer: true,
    ...overrides,
  };
}

function event(
  routeKey: string,
  options: {
    path?: Record<string, string>;
    body?: string;
    query?: Record<string, string>;
    iam?: boolean;
  } = {},
): APIGatewayProxyEventV2 {
  const [method, path] = routeKey.split(' ') as [string, string];
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: new URLSearchParams(options.query ?? {}).toString(),
    headers: {},
    ...(options.query ? { queryStringParameters: options.query } : {}),
    ...(options.path ? { pathParameters: options.path } : {}),
    requestContext: {
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      ...(options.iam === false ? {} : { authorizer: IAM }),
    } as unknown as APIGatewayProxyEventV2['requestContext'],
    ...(options.body === undefined ? {} : { body: options.body }),
    isBase64Encoded: false,
  } as APIGatewayProxyEventV2;
}

type Answer = { statusCode: number; headers: Record<string, string>; body: string };
const call = async (e: APIGatewayProxyEventV2, d = deps()) => (await makeHandler(d)(e)) as Answer;
const put = (id: string, body: unknown, d?: TenantsHandlerDeps) =>
  call(
    event('PUT /tenants/{tenant_id}', {
      path: { tenant_id: id },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
    d,
  );
const onboard = (id: string, d?: TenantsHandlerDeps) =>
  call(event('POST /tenants/{tenant_id}/onboarding', { path: { tenant_id: id } }), d);
const callback = (query: Record<string, string>, d?: TenantsHandlerDeps) =>
  call(event('GET /oauth/cronofy/callback', { query, iam: false }), d);
const stateOf = (connectUrl: string) => new URL(connectUrl).searchParams.get('state') ?? '';

beforeEach(() => {
  store = new MemoryTenantStore();
  now = Date.parse('2026-03-01T10:00:00Z');
  log = capturingLogger();
  exchanged = [];
  revoked = [];
  oauth = {
    async exchangeCode(code, redirectUri) {
      exchanged.push({ code, redirectUri });
      if (oauth.failExchange) throw new OAuthUnavailableError('status 500');
      return { accessToken: ACCESS, refreshToken: REFRESH, expiresIn: 3600, sub: 'ou_acme' };
    },
    async refresh() {
      throw new Error('not expected');
    },
    async revoke(token) {
      revoked.push(token);
      if (oauth.failRevoke) throw new OAuthUnavailableError('status 503');
    },
  };
});

/**
 * Another function's refresh (rotating to `rt_rotated`) lands just after the store's next read of a credential;
 * answers the store's own read.
 */
function refreshLandsAfterFirstRead(): MemoryTenantStore['getCredential'] {
  const read = store.getCredential.bind(store);
  let raced = false;
  store.getCredential = async (tenantId) => {
    const credential = await read(tenantId);
    if (credential && !raced) {
      raced = true;
      await store.saveRefreshed(tenantId, credential.generation, {
        accessToken: 'at_rotated',
        refreshToken: 'rt_rotated',
        expiresAt: now + 3_600_000,
      });
    }
    return credential;
  };
  return read;
}

/** Acme connected with ACCESS and REFRESH, as a callback leaves it. */
const connectAcme = () =>
  store.connect(
    'acme',
    { accessToken: ACCESS, refreshToken: REFRESH, expiresAt: now + 3_600_000 },
    new Date(now).toISOString(),
  );

/** Every answer body and log line so far must hold none of these. */
function expectNoSecretsIn(texts: string[]) {
  for (const text of texts)
    for (const secret of [TENANT_SECRET, ACCESS, REFRESH, SECRETS.clientSecrets[0], SECRETS.embedSecret])
      expect(text).not.toContain(secret);
}

describe('PUT /tenants/{tenant_id}', () => {
  it('registers a tenant (201), then updates it (200); client_secrets are write-only and counted', async () => {
    const created = await put('acme', { name: 'Acme Corp', client_secrets: [TENANT_SECRET] });
    expect(created.statusCode).toBe(201);
    expect(JSON.parse(created.body)).toEqual({
      tenant_id: 'acme',
      name: 'Acme Corp',
      status: 'registered',
      notification_url: `${API}/cronofy/notifications/acme`,
      client_secrets_count: 1,
    });
    const updated = await put('acme', { name: 'Acme Inc' });
    expect(updated.statusCode).toBe(200);
    expect(JSON.parse(updated.body)).toMatchObject({ name: 'Acme Inc', client_secrets_count: 1 });
    expect(await store.tenantClientSecrets('acme')).toEqual([TENANT_SECRET]);
    const cleared = await put('acme', { client_secrets: [] });
    expect(JSON.parse(cleared.body)).toMatchObject({ name: 'Acme Inc', client_secrets_count: 0 });
    expectNoSecretsIn([created.body, updated.body, ...log.lines]);
  });

  it.each([
    ['an unknown field', { name: 'A', extra: 1 }, 'unknown field; allowed fields: name, client_secrets'],
    ['a name that is not a string', { name: 5 }, 'name must be a string'],
    ['an empty name', { name: '' }, 'name must not be empty'],
    ['a name over 128 characters', { name: 'x'.repeat(129) }, 'name must be at most 128 characters'],
    ['a name with control characters', { name: 'A\u0007' }, 'name must not contain control characters'],
    [
      'five client secrets',
      { name: 'A', client_secrets: ['a', 'b', 'c', 'd', 'e'] },
      'client_secrets must hold at most 4 values',
    ],
    [
      'client_secrets that is not a list',
      { name: 'A', client_secrets: 'a' },
      'client_secrets must be a list of strings',
    ],
    ['an empty client secret', { name: 'A', client_secrets: [''] }, 'client_secrets[] must not be empty'],
    ['a JSON array', [], 'body must be a JSON object'],
    ['no name when registering', { client_secrets: ['a'] }, 'name is required when registering a tenant'],
    ['not JSON', '{"name":', 'body must be a JSON object'],
  ])('answers 400 naming the problem for %s', async (_, body, message) => {
    const answer = await put('acme', body);
    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({ error: 'bad_request', message });
    expect(store.tenants.size).toBe(0);
  });

  // `.` and `..` are dot-segments: a URL holding one (its notification URL, `/tenants/..`) is resolved away by
  // HTTP clients (RFC 3986 §5.2.4), so it could never reach that tenant, and `…/notifications/.` could land on
  // the shared URL.
  it.each(['', 'a/b', 'x'.repeat(65), 'acmé', 'a b', '..%', '.', '..', 'аcme'])(
    'answers 400 for the tenant id %j, without echoing it',
    async (id) => {
      const answer = await put(id, { name: 'A' });
      expect(answer.statusCode).toBe(400);
      expect(JSON.parse(answer.body).message).toBe(TENANT_ID_RULE);
      expect(store.calls).toEqual([]);
    },
  );

  it.each(['...', '.acme', 'acme.', 'a..b', '-', '_'])('accepts the tenant id %j', async (id) => {
    expect((await put(id, { name: 'A' })).statusCode).toBe(201);
  });

  it('refuses a call API Gateway did not authorise (403), before touching the store', async () => {
    const answer = await call(
      event('PUT /tenants/{tenant_id}', { path: { tenant_id: 'acme' }, body: '{"name":"A"}', iam: false }),
    );
    expect(answer.statusCode).toBe(403);
    expect(store.calls).toEqual([]);
  });
});

describe('GET /tenants, GET and DELETE /tenants/{tenant_id}', () => {
  it('reads a tenant, answers 404 unknown_tenant for another', async () => {
    await put('acme', { name: 'Acme' });
    const found = await call(event('GET /tenants/{tenant_id}', { path: { tenant_id: 'acme' } }));
    expect(JSON.parse(found.body)).toMatchObject({ tenant_id: 'acme', status: 'registered' });
    const missing = await call(event('GET /tenants/{tenant_id}', { path: { tenant_id: 'globex' } }));
    expect(missing.statusCode).toBe(404);
    expect(JSON.parse(missing.body).error).toBe('unknown_tenant');
  });

  it('lists tenants page by page with next_cursor', async () => {
    for (let i = 0; i < 60; i++) await put(`t${String(i).padStart(2, '0')}`, { name: `T${i}` });
    const first = JSON.parse((await call(event('GET /tenants'))).body);
    expect(first.tenants).toHaveLength(50);
    const second = JSON.parse(
      (await call(event('GET /tenants', { query: { cursor: first.next_cursor } }))).body,
    );
    expect(second.tenants).toHaveLength(10);
    expect(second.next_cursor).toBeUndefined();
    const ids = [...first.tenants, ...second.tenants].map((t: { tenant_id: string }) => t.tenant_id);
    expect(new Set(ids).size).toBe(60);
    const bad = await call(event('GET /tenants', { query: { cursor: 'nonsense' } }));
    expect(bad.statusCode).toBe(400);
  });

  it('offboards: revokes at Cronofy, forgets credentials and client secrets, status disconnected', async () => {
    await put('acme', { name: 'Acme', client_secrets: [TENANT_SECRET] });
    await connectAcme();
    const answer = await call(event('DELETE /tenants/{tenant_id}', { path: { tenant_id: 'acme' } }));
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({
      tenant_id: 'acme',
      status: 'disconnected',
      revoked: true,
      client_secrets_count: 0,
    });
    expect(revoked).toEqual([REFRESH]);
    expect(await store.getCredential('acme')).toBeUndefined();
    // The tenant notification route no longer knows it.
    expect(await store.tenantClientSecrets('acme')).toBeUndefined();
    expectNoSecretsIn([answer.body, ...log.lines]);
  });

  it('offboarding racing a refresh revokes the refresh token the deleted credential held, not a rotated-away one', async () => {
    await put('acme', { name: 'Acme' });
    await connectAcme();
    // Another function's refresh lands between the offboarding's read of the credential and its delete.
    const read = refreshLandsAfterFirstRead();
    const answer = await call(event('DELETE /tenants/{tenant_id}', { path: { tenant_id: 'acme' } }));
    expect(JSON.parse(answer.body)).toMatchObject({ status: 'disconnected', revoked: true });
    expect(revoked).toEqual(['rt_rotated']);
    expect(await read('acme')).toBeUndefined();
  });

  it('offboards even when Cronofy cannot be reached to revoke, and says so', async () => {
    oauth.failRevoke = true;
    await put('acme', { name: 'Acme' });
    await connectAcme();
    const answer = await call(event('DELETE /tenants/{tenant_id}', { path: { tenant_id: 'acme' } }));
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 'disconnected', revoked: false });
    expect(await store.getCredential('acme')).toBeUndefined();
    expect(log.lines.some((line) => line.includes('tenant tokens not revoked at Cronofy'))).toBe(true);
  });

  it('answers a repeated offboarding with the state unchanged: no second revoke, no write', async () => {
    await put('acme', { name: 'Acme' });
    await connectAcme();
    const del = () => call(event('DELETE /tenants/{tenant_id}', { path: { tenant_id: 'acme' } }));
    const first = await del();
    const before = await store.getTenant('acme');
    now += 60_000;
    const offboard = store.offboard.bind(store);
    let writes = 0;
    store.offboard = async (...args) => {
      writes++;
      return offboard(...args);
    };
    const again = await del();
    expect(again.statusCode).toBe(200);
    expect(JSON.parse(again.body)).toEqual(JSON.parse(first.body));
    expect(await store.getTenant('acme')).toEqual(before);
    expect(revoked).toEqual([REFRESH]);
    expect(writes).toBe(0);
  });

  it('answers two concurrent offboardings alike: one revokes, neither moves the times the first recorded', async () => {
    await put('acme', { name: 'Acme' });
    await connectAcme();
    const offboard = store.offboard.bind(store);
    store.offboard = async (...args) => {
      const done = await offboard(...args);
      now += 1_000;
      return done;
    };
    const firstAt = new Date(now).toISOString();
    const remove = () => call(event('DELETE /tenants/{tenant_id}', { path: { tenant_id: 'acme' } }));
    const answers = await Promise.all([remove(), remove()]);
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200]);
    for (const answer of answers)
      expect(JSON.parse(answer.body)).toMatchObject({ status: 'disconnected', disconnected_at: firstAt });
    expect(revoked).toEqual([REFRESH]);
    expect(store.tenants.get('acme')).toMatchObject({ offboardedAt: firstAt, lastOffboardedAt: firstAt });
  });

  it('answers 404 for offboarding an unknown tenant', async () => {
    const answer = await call(event('DELETE /tenants/{tenant_id}', { path: { tenant_id: 'nobody' } }));
    expect(answer.statusCode).toBe(404);
  });
});

describe('POST /tenants/{tenant_id}/onboarding', () => {
  it('answers the sign-up URL (an Embed token with tenant_id and tenant_name) and the connect URL', async () => {
    await put('acme', { name: 'Acme Corp' });
    const answer = await onboard('acme');
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    const body = JSON.parse(answer.body);
    const signUp = new URL(body.sign_up_url);
    expect(`${signUp.origin}${signUp.pathname}`).toBe(`${APP}/sign_up`);
    expect(signUp.searchParams.get('style')).toBe('embedded');
    const claims = decodeJwt(signUp.searchParams.get('embedded_authtoken') ?? '');
    expect(claims).toMatchObject({
      iss: 'EMB_public',
      aud: 'scheduler_embed',
      tenant_id: 'acme',
      tenant_name: 'Acme Corp',
    });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBeLessThanOrEqual(4 * 3600);

    const connect = new URL(body.connect_url);
    expect(`${connect.origin}${connect.pathname}`).toBe(`${APP}/oauth/authorize`);
    expect(Object.fromEntries(connect.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: 'app_client_id',
      redirect_uri: CALLBACK,
      scope: 'organizational_unit_scheduler',
    });
    expect(Date.parse(body.expires_at)).toBe(now + STATE_TTL_SECONDS * 1000);
    expect(STATE_TTL_SECONDS).toBeLessThanOrEqual(30 * 60);
  });

  it('hands out an unguessable state (256 bits) and keeps only its hash', async () => {
    await put('acme', { name: 'Acme' });
    const states = new Set<string>();
    for (let i = 0; i < 5; i++) states.add(stateOf(JSON.parse((await onboard('acme')).body).connect_url));
    expect(states.size).toBe(5);
    for (const state of states) {
      expect(Buffer.from(state, 'base64url')).toHaveLength(32);
      expect(store.states.has(state)).toBe(false);
      expect(store.states.get(hashState(state))?.tenantId).toBe('acme');
      expect(log.lines.join('\n')).not.toContain(state);
    }
  });

  it('answers 404 for an unknown tenant and 501 when cronofy.clientId is not configured', async () => {
    expect((await onboard('nobody')).statusCode).toBe(404);
    await put('acme', { name: 'Acme' });
    const unconfigured = await onboard('acme', deps({ clientId: undefined }));
    expect(unconfigured.statusCode).toBe(501);
    expect(JSON.parse(unconfigured.body).error).toBe('not_configured');
  });
});

describe('GET /oauth/cronofy/callback', () => {
  async function startedState(id = 'acme'): Promise<string> {
    if (!store.tenants.has(id)) await put(id, { name: id });
    return stateOf(JSON.parse((await onboard(id)).body).connect_url);
  }

  it('exchanges the code, keeps the tokens, connects the tenant and redirects to successUrl with tenant_id', async () => {
    const state = await startedState();
    const answer = await callback({ code: 'the_code', state });
    expect(answer.statusCode).toBe(302);
    expect(answer.headers.location).toBe('https://ats.example.com/cronofy/connected?tenant_id=acme');
    expect(exchanged).toEqual([{ code: 'the_code', redirectUri: CALLBACK }]);
    expect(store.tenants.get('acme')?.status).toBe('connected');
    expect(await store.getCredential('acme')).toMatchObject({
      accessToken: ACCESS,
      refreshToken: REFRESH,
      expiresAt: now + 3_600_000,
    });
    expectNoSecretsIn([answer.body, answer.headers.location ?? '', ...log.lines]);
  });

  it('works once: a replayed state is a 400 page, with no second exchange', async () => {
    const state = await startedState();
    await callback({ code: 'the_code', state });
    const replay = await callback({ code: 'the_code', state });
    expect(replay.statusCode).toBe(400);
    expect(replay.headers['content-type']).toContain('text/html');
    expect(replay.headers.location).toBeUndefined();
    expect(exchanged).toHaveLength(1);
  });

  it.each([
    ['missing', {}],
    ['malformed', { state: 'short' }],
    ['repeated', { state: 'a,b' }],
    ['forged', { state: Buffer.alloc(32, 7).toString('base64url') }],
  ])('refuses a %s state with a 400 page, no exchange, no redirect, no echo', async (_, query) => {
    await startedState();
    const answer = await callback({ code: 'code_<script>', ...query });
    expect(answer.statusCode).toBe(400);
    expect(answer.headers.location).toBeUndefined();
    expect(answer.body).not.toContain('code_<script>');
    expect(exchanged).toEqual([]);
  });

  it('refuses a state after it expired', async () => {
    const state = await startedState();
    now += STATE_TTL_SECONDS * 1000;
    const answer = await callback({ code: 'the_code', state });
    expect(answer.statusCode).toBe(400);
    expect(exchanged).toEqual([]);
    expect(store.tenants.get('acme')?.status).toBe('registered');
  });

  it('never connects with a state handed out before the tenant was offboarded, even after it was registered again', async () => {
    const state = await startedState('acme');
    const fresh = await startedState('acme');
    now += 60_000;
    await call(event('DELETE /tenants/{tenant_id}', { path: { tenant_id: 'acme' } }));
    now += 60_000;
    await put('acme', { name: 'Acme again' });
    const answer = await callback({ code: 'the_code', state });
    expect(new URL(answer.headers.location ?? '').searchParams.get('error')).toBe('exchange_failed');
    // Exchanged only to give the authorization back at once.
    expect(revoked).toEqual([REFRESH]);
    expect(await store.getCredential('acme')).toBeUndefined();
    expect(store.tenants.get('acme')?.status).toBe('disconnected');
    const other = await callback({ code: 'other_code', state: fresh });
    expect(new URL(other.headers.location ?? '').searchParams.get('error')).toBe('exchange_failed');
    expect(store.tenants.get('acme')?.status).toBe('disconnected');
    // A connect URL of the new registration works.
    expect((await callback({ code: 'new_code', state: await startedState('acme') })).statusCode).toBe(302);
    expect(store.tenants.get('acme')?.status).toBe('connected');
  });

  it('connects with a state handed out after an offboarding and a registration within the same second (an integrator resetting a tenant in one go)', async () => {
    await put('acme', { name: 'Acme' });
    now += 100;
    await call(event('DELETE /tenants/{tenant_id}', { path: { tenant_id: 'acme' } }));
    now += 100;
    await put('acme', { name: 'Acme again' });
    now += 100;
    const answer = await callback({ code: 'the_code', state: await startedState('acme') });
    expect(answer.headers.location).toBe('https://ats.example.com/cronofy/connected?tenant_id=acme');
    expect(revoked).toEqual([]);
    expect(store.tenants.get('acme')?.status).toBe('connected');
  });

  it('never connects with a state handed out before an offboarding and a registration that land during its exchange', async () => {
    const state = await startedState('acme');
    now += 60_000;
    const exchange = oauth.exchangeCode;
    oauth.exchangeCode = async (code, redirectUri) => {
      // Cronofy takes its time; meanwhile the integrator offboards the tenant and registers it again.
      await call(event('DELETE /tenants/{tenant_id}', { path: { tenant_id: 'acme' } }));
      now += 1_000;
      await put('acme', { name: 'Acme again' });
      return exchange(code, redirectUri);
    };
    const answer = await callback({ code: 'the_code', state });
    expect(new URL(answer.headers.location ?? '').searchParams.get('error')).toBe('exchange_failed');
    expect(revoked).toEqual([REFRESH]);
    expect(await store.getCredential('acme')).toBeUndefined();
    expect(store.tenants.get('acme')?.status).toBe('disconnected');
  });

  it('gives the authorization back when its tokens cannot be stored (the table or the key unavailable)', async () => {
    const state = await startedState();
    store.connect = async () => {
      throw new Error('ProvisionedThroughputExceededException');
    };
    const answer = await callback({ code: 'the_code', state });
    expect(new URL(answer.headers.location ?? '').searchParams.get('error')).toBe('exchange_failed');
    expect(revoked).toEqual([REFRESH]);
    expect(store.tenants.get('acme')?.status).toBe('registered');
    expectNoSecretsIn([answer.body, ...log.lines]);
  });

  it('keeps the connection when the write that stored the tokens failed only on its way back', async () => {
    const state = await startedState();
    const connect = store.connect.bind(store);
    store.connect = async (...args) => {
      await connect(...args);
      throw new Error('TimeoutError');
    };
    const answer = await callback({ code: 'the_code', state });
    expect(answer.headers.location).toBe('https://ats.example.com/cronofy/connected?tenant_id=acme');
    expect(revoked).toEqual([]);
    expect(store.tenants.get('acme')?.status).toBe('connected');
  });

  it('never revokes tokens that may be stored: a write failed on its way back and reading it back failed too', async () => {
    const state = await startedState();
    const connect = store.connect.bind(store);
    store.connect = async (...args) => {
      await connect(...args);
      // The table is unreachable from here on, for the write's answer and the read after it alike.
      store.getCredential = async () => {
        throw new Error('TimeoutError');
      };
      throw new Error('TimeoutError');
    };
    const answer = await callback({ code: 'the_code', state });
    expect(new URL(answer.headers.location ?? '').searchParams.get('error')).toBe('exchange_failed');
    // Revoking them would leave the tenant connected with a token Cronofy refuses.
    expect(revoked).toEqual([]);
    expect(store.tenants.get('acme')?.status).toBe('connected');
    expectNoSecretsIn([answer.body, ...log.lines]);
  });

  it('binds the state to its tenant: it connects that tenant and no other', async () => {
    await put('globex', { name: 'Globex' });
    const state = await startedState('acme');
    await callback({ code: 'the_code', state });
    expect(store.tenants.get('acme')?.status).toBe('connected');
    expect(store.tenants.get('globex')?.status).toBe('registered');
  });

  it('sends access_denied to errorUrl with tenant_id, without an exchange, and uses up the state', async () => {
    const state = await startedState();
    const answer = await callback({ error: 'access_denied', state });
    expect(answer.statusCode).toBe(302);
    const location = new URL(answer.headers.location ?? '');
    expect(Object.fromEntries(location.searchParams)).toEqual({
      from: 'cronofy',
      tenant_id: 'acme',
      error: 'access_denied',
    });
    expect(exchanged).toEqual([]);
    expect((await callback({ code: 'late', state })).statusCode).toBe(400);
  });

  it('sends exchange_failed to errorUrl when the exchange fails, and the tenant stays registered', async () => {
    oauth.failExchange = true;
    const state = await startedState();
    const answer = await callback({ code: 'the_code', state });
    expect(new URL(answer.headers.location ?? '').searchParams.get('error')).toBe('exchange_failed');
    expect(store.tenants.get('acme')?.status).toBe('registered');
  });

  it('does not reconnect a tenant offboarded after its connect URL was handed out, and gives the authorization back', async () => {
    const state = await startedState();
    await call(event('DELETE /tenants/{tenant_id}', { path: { tenant_id: 'acme' } }));
    const answer = await callback({ code: 'the_code', state });
    expect(new URL(answer.headers.location ?? '').searchParams.get('error')).toBe('exchange_failed');
    expect(store.tenants.get('acme')?.status).toBe('disconnected');
    expect(await store.getCredential('acme')).toBeUndefined();
    expect(revoked).toEqual([REFRESH]);
    // Onboarding it needs a new registration first.
    expect((await onboard('acme')).statusCode).toBe(400);
    await put('acme', { name: 'Acme again' });
    expect((await onboard('acme')).statusCode).toBe(200);
  });

  describe('onboarding a connected tenant again', () => {
    /**
     * The token endpoint answers each code with its own tokens (`rt_<code>`) and, by default, its own OU
     * (`ou_<code>`): consents of different OUs, whose authorizations are surely distinct.
     */
    function tokensPerCode(subOf: (code: string) => string | undefined = (code) => `ou_${code}`) {
      oauth.exchangeCode = async (code, redirectUri) => {
        exchanged.push({ code, redirectUri });
        const sub = subOf(code);
        return {
          accessToken: `at_${code}`,
          refreshToken: `rt_${code}`,
          expiresIn: 3600,
          ...(sub === undefined ? {} : { sub }),
        };
      };
    }
    const kept = () => log.lines.filter((line) => line.includes('may be the same authorization'));

    it('keeps the stored OU id with the credential', async () => {
      tokensPerCode();
      await callback({ code: 'first', state: await startedState() });
      expect((await store.getCredential('acme'))?.sub).toBe('ou_first');
    });

    it("never revokes the previous authorization when the new consent is the same OU's: both may be one authorization", async () => {
      tokensPerCode(() => 'ou_same');
      await callback({ code: 'first', state: await startedState() });
      now += 60_000;
      const answer = await callback({ code: 'second', state: await startedState() });
      expect(answer.headers.location).toBe('https://ats.example.com/cronofy/connected?tenant_id=acme');
      expect(revoked).toEqual([]);
      expect((await store.getCredential('acme'))?.refreshToken).toBe('rt_second');
      expect(kept()).toHaveLength(1);
      expect(kept()[0]).toContain('acme');
      for (const line of log.lines) expect(line).not.toMatch(/rt_first|rt_second|at_first|at_second/);
    });

    it.each([
      ['the new answer', (code: string) => (code === 'second' ? undefined : `ou_${code}`)],
      ['the previous answer', (code: string) => (code === 'first' ? undefined : `ou_${code}`)],
      ['either answer', () => undefined],
    ])('never revokes the previous authorization when %s carried no OU id', async (_, subOf) => {
      tokensPerCode(subOf);
      await callback({ code: 'first', state: await startedState() });
      now += 60_000;
      const answer = await callback({ code: 'second', state: await startedState() });
      expect(answer.statusCode).toBe(302);
      expect(revoked).toEqual([]);
      expect(kept()).toHaveLength(1);
    });

    it('revokes the previous authorization at Cronofy once the new tokens are stored', async () => {
      tokensPerCode();
      await callback({ code: 'first', state: await startedState() });
      const storedAtRevoke: (string | undefined)[] = [];
      const revoke = oauth.revoke;
      oauth.revoke = async (token) => {
        storedAtRevoke.push((await store.getCredential('acme'))?.refreshToken);
        return revoke(token);
      };
      now += 60_000;
      const answer = await callback({ code: 'second', state: await startedState() });
      expect(answer.headers.location).toBe('https://ats.example.com/cronofy/connected?tenant_id=acme');
      expect(revoked).toEqual(['rt_first']);
      expect(storedAtRevoke).toEqual(['rt_second']);
      expect((await store.getCredential('acme'))?.refreshToken).toBe('rt_second');
      expectNoSecretsIn([...log.lines]);
      for (const line of log.lines) expect(line).not.toMatch(/rt_first|rt_second|at_first|at_second/);
    });

    describe('a consent whose tokens cannot be kept, while the tenant holds another', () => {
      /** The exchange answers `sub` with an access token only: its tokens cannot be kept. */
      function noRefreshToken(sub: string | undefined) {
        oauth.exchangeCode = async () => ({
          accessToken: 'at_orphan',
          expiresIn: 3600,
          ...(sub === undefined ? {} : { sub }),
        });
      }

      it.each([
        ['the same OU', 'ou_first'],
        ['an unknown OU', undefined],
      ])(
        'keeps an answer without a refresh token from %s: it may be the live authorization',
        async (_, sub) => {
          tokensPerCode();
          await callback({ code: 'first', state: await startedState() });
          noRefreshToken(sub);
          const answer = await callback({ code: 'second', state: await startedState() });
          expect(new URL(answer.headers.location ?? '').searchParams.get('error')).toBe('exchange_failed');
          expect(revoked).toEqual([]);
          expect(kept()).toHaveLength(1);
          expect((await store.getCredential('acme'))?.refreshToken).toBe('rt_first');
          expect(store.tenants.get('acme')?.status).toBe('connected');
        },
      );

      it('gives back an answer without a refresh token from another OU, and one when the tenant holds nothing', async () => {
        tokensPerCode();
        await callback({ code: 'first', state: await startedState() });
        noRefreshToken('ou_other');
        await callback({ code: 'second', state: await startedState() });
        expect(revoked).toEqual(['at_orphan']);
        await put('globex', { name: 'Globex' });
        noRefreshToken(undefined);
        await callback({ code: 'third', state: await startedState('globex') });
        expect(revoked).toEqual(['at_orphan', 'at_orphan']);
        expect(kept()).toEqual([]);
      });

      it.each([
        ['the same OU', () => 'ou_same', []],
        ['another OU', (code: string) => `ou_${code}`, ['rt_second']],
      ])(
        'tokens that could not be stored, from %s: given back only when surely another authorization',
        async (_, subOf, expected) => {
          tokensPerCode(subOf);
          await callback({ code: 'first', state: await startedState() });
          store.connect = async () => {
            throw new Error('ProvisionedThroughputExceededException');
          };
          const answer = await callback({ code: 'second', state: await startedState() });
          expect(new URL(answer.headers.location ?? '').searchParams.get('error')).toBe('exchange_failed');
          expect(revoked).toEqual(expected);
          expect((await store.getCredential('acme'))?.refreshToken).toBe('rt_first');
        },
      );

      it('keeps tokens that could not be stored when the credential the tenant holds cannot be read either', async () => {
        tokensPerCode();
        await callback({ code: 'first', state: await startedState() });
        const read = store.getCredential.bind(store);
        store.connect = async () => {
          // The write fails; the read back after it still answers (the tokens are not there), the next one fails.
          let reads = 0;
          store.getCredential = async (tenantId) => {
            if (++reads > 1) throw new Error('TimeoutError');
            return read(tenantId);
          };
          throw new Error('ProvisionedThroughputExceededException');
        };
        await callback({ code: 'second', state: await startedState() });
        expect(revoked).toEqual([]);
        expect(kept()).toHaveLength(1);
      });

      it("keeps the consent of a connect URL handed out before an offboarding when the tenant, registered again, holds the same OU's", async () => {
        tokensPerCode(() => 'ou_same');
        const stale = await startedState();
        now += 60_000;
        await call(event('DELETE /tenants/{tenant_id}', { path: { tenant_id: 'acme' } }));
        now += 60_000;
        await put('acme', { name: 'Acme again' });
        await callback({ code: 'first', state: await startedState() });
        const answer = await callback({ code: 'late', state: stale });
        expect(new URL(answer.headers.location ?? '').searchParams.get('error')).toBe('exchange_failed');
        expect(revoked).toEqual([]);
        expect((await store.getCredential('acme'))?.refreshToken).toBe('rt_first');
      });
    });

    it('revokes the refresh token the replaced credential held when a refresh rotated it in between', async () => {
      tokensPerCode();
      await callback({ code: 'first', state: await startedState() });
      const read = refreshLandsAfterFirstRead();
      now += 60_000;
      const answer = await callback({ code: 'second', state: await startedState() });
      expect(answer.statusCode).toBe(302);
      expect(revoked).toEqual(['rt_rotated']);
      expect((await read('acme'))?.refreshToken).toBe('rt_second');
    });

    it('stores the new connection above the generation it replaces when refreshes keep landing and the clock has not moved', async () => {
      tokensPerCode();
      await callback({ code: 'first', state: await startedState() });
      // A refresh lands after every read, so the last attempt replaces whatever is there; the clock still reads
      // the millisecond of the first connection, below the generations its refreshes counted.
      const read = store.getCredential.bind(store);
      const seen: number[] = [];
      store.getCredential = async (tenantId) => {
        const credential = await read(tenantId);
        if (credential) {
          seen.push(credential.generation);
          await store.saveRefreshed(tenantId, credential.generation, {
            accessToken: `at_r${seen.length}`,
            refreshToken: `rt_r${seen.length}`,
            expiresAt: now + 3_600_000,
          });
        }
        return credential;
      };
      const answer = await callback({ code: 'second', state: await startedState() });
      expect(answer.headers.location).toBe('https://ats.example.com/cronofy/connected?tenant_id=acme');
      const stored = await read('acme');
      expect(stored?.refreshToken).toBe('rt_second');
      expect(stored?.generation).toBeGreaterThan(Math.max(...seen));
    });

    it('revokes the previous authorization also when the write that stored the new tokens failed only on its way back', async () => {
      tokensPerCode();
      await callback({ code: 'first', state: await startedState() });
      const connect = store.connect.bind(store);
      store.connect = async (...args) => {
        await connect(...args);
        throw new Error('TimeoutError');
      };
      now += 60_000;
      const answer = await callback({ code: 'second', state: await startedState() });
      expect(answer.headers.location).toBe('https://ats.example.com/cronofy/connected?tenant_id=acme');
      expect((await store.getCredential('acme'))?.refreshToken).toBe('rt_second');
      // Left unrevoked, the first consent would stay live at Cronofy with nothing holding it.
      expect(revoked).toEqual(['rt_first']);
    });

    it('keeps the new connection when the revocation fails, and never revokes the token it just stored', async () => {
      await callback({ code: 'first', state: await startedState() });
      // Cronofy answering the same refresh token for the new consent: revoking it would end the new connection.
      now += 60_000;
      await callback({ code: 'second', state: await startedState() });
      expect(revoked).toEqual([]);
      tokensPerCode();
      oauth.failRevoke = true;
      now += 60_000;
      const answer = await callback({ code: 'third', state: await startedState() });
      expect(answer.headers.location).toBe('https://ats.example.com/cronofy/connected?tenant_id=acme');
      expect(revoked).toEqual([REFRESH]);
      expect(store.tenants.get('acme')?.status).toBe('connected');
      expect((await store.getCredential('acme'))?.refreshToken).toBe('rt_third');
      expect(log.lines.some((line) => line.includes('previous authorization not revoked'))).toBe(true);
      expectNoSecretsIn([...log.lines]);
    });
  });

  it('without configured pages, says what happened on a small page (no redirect, nothing echoed)', async () => {
    const bare = deps({ successUrl: undefined, errorUrl: undefined });
    const connected = await callback({ code: 'the_code', state: await startedState() }, bare);
    expect(connected.statusCode).toBe(200);
    expect(connected.body).toContain('Cronofy is connected');
    expect(connected.body).not.toContain('the_code');
    const denied = await callback({ error: 'access_denied', state: await startedState() }, bare);
    expect(denied.statusCode).toBe(400);
    expect(denied.body).toContain('declined');
  });
});
