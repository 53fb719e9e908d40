import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { makeCronofyApi } from '#shared/cronofy/api-client.ts';
import {
  CredentialRejectedError,
  CronofyNotFoundError,
  CronofyRequestError,
  CronofyUnavailableError,
  CronofyValidationError,
} from '#shared/cronofy/api-errors.ts';
import { RateLimiter } from '#shared/cronofy/rate-limiter.ts';
import { parseCreateBody } from '#shared/scheduling/requests.ts';
import {
  makeHandler,
  type SchedulingRequestsHandlerDeps,
} from '../../functions/scheduling-requests/handler.ts';
import { capturingLogger } from '../support/capturing-logger.ts';
import {
  FakeCronofyApi,
  fakeTenantCredentials,
  MemoryIdempotencyStore,
  MemorySchedulingStore,
} from '../support/memory-scheduling.ts';

const NOW = new Date('2026-11-23T10:00:00.000Z');
const CALLER = 'arn:aws:sts::123456789012:assumed-role/ats-backend/session';
/** The idempotency scope of CALLER: its role (shared/scheduling/requests.ts). */
const CALLER_ROLE = 'arn:aws:sts::123456789012:assumed-role/ats-backend';
const TEMPLATE = {
  recipient: { email: 'candidate@example.com', display_name: 'Ada Candidate' },
  template_sub: 'sgr_0123456789abcdef',
  correlation_id: 'CAND-66',
  utm_source: 'ats',
};

function setup(overrides: Partial<SchedulingRequestsHandlerDeps> = {}) {
  const { logger, lines } = capturingLogger();
  const api = new FakeCronofyApi();
  const store = new MemorySchedulingStore();
  const idempotency = new MemoryIdempotencyStore(() => Math.floor(NOW.getTime() / 1000));
  const metrics: string[] = [];
  let now = NOW.getTime();
  const deps: SchedulingRequestsHandlerDeps = {
    api,
    store,
    idempotency,
    clock: () => new Date(now),
    logger,
    requireIamAuthorizer: true,
    writeMetric: (line) => metrics.push(line),
    metricsNamespace: 'Test',
    // Virtual time: waiting for a concurrent request advances the clock instead of sleeping.
    sleep: async (ms) => {
      now += ms;
      await new Promise((resolve) => setImmediate(resolve));
    },
    ...overrides,
  };
  return {
    handler: makeHandler(deps),
    api,
    store,
    idempotency,
    lines,
    metrics,
    advance: (ms: number) => (now += ms),
  };
}

function event(
  path: string,
  body: unknown,
  options: { iam?: boolean; headers?: Record<string, string>; routeKey?: string; id?: string } = {},
): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey:
      options.routeKey ??
      (path.endsWith('/cancel') ? 'POST /scheduling-requests/{id}/cancel' : 'POST /scheduling-requests'),
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...options.headers },
    ...(options.id ? { pathParameters: { id: options.id } } : {}),
    requestContext: {
      http: { method: 'POST', path },
      ...(options.iam === false ? {} : { authorizer: { iam: { userArn: CALLER } } }),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

const create = (body: unknown, headers?: Record<string, string>) =>
  event('/scheduling-requests', body, { headers });
const parsed = (result: APIGatewayProxyStructuredResultV2) => JSON.parse(String(result.body));

describe('POST /scheduling-requests: the body', () => {
  const cases: [string, unknown, RegExp][] = [
    [
      'an unknown field',
      { ...TEMPLATE, colour: 'red' },
      /^unknown field in the body; allowed fields: recipient, /,
    ],
    [
      'an unknown recipient field',
      { ...TEMPLATE, recipient: { ...TEMPLATE.recipient, phone: '1' } },
      /unknown field in recipient/,
    ],
    ['no recipient', { template_sub: 'sgr_1' }, /^recipient is required/],
    [
      'a bad email',
      { ...TEMPLATE, recipient: { email: 'nope', display_name: 'A' } },
      /recipient.email must be an email address/,
    ],
    [
      'no source',
      { recipient: TEMPLATE.recipient },
      /exactly one of template_sub, host_sub or host_group_sub/,
    ],
    ['two sources', { ...TEMPLATE, host_sub: 'acc_1', summary: 'x', duration_minutes: 30 }, /exactly one of/],
    [
      'a template id without its prefix',
      { ...TEMPLATE, template_sub: 'acc_1' },
      /template_sub must be a sgr_… id/,
    ],
    [
      'a host without summary',
      { recipient: TEMPLATE.recipient, host_sub: 'acc_1', duration_minutes: 30 },
      /summary and duration_minutes are required/,
    ],
    ['a template with a duration', { ...TEMPLATE, duration_minutes: 30 }, /come from the template/],
    [
      'a fractional duration',
      { recipient: TEMPLATE.recipient, host_group_sub: 'sel_1', summary: 'x', duration_minutes: 1.5 },
      /whole number from 1 to 1440/,
    ],
    [
      'a 129-character correlation_id',
      { ...TEMPLATE, correlation_id: 'x'.repeat(129) },
      /correlation_id must be at most 128 characters/,
    ],
    [
      'a control character in utm_term',
      { ...TEMPLATE, utm_term: 'a\nb' },
      /utm_term must not contain control characters/,
    ],
    [
      'a C1 control character (NEL) in utm_term',
      { ...TEMPLATE, utm_term: 'a\u0085b' },
      /utm_term must not contain control characters/,
    ],
    [
      'a lone surrogate in correlation_id (the link would carry U+FFFD, the record the surrogate)',
      { ...TEMPLATE, correlation_id: 'CAND-\ud800' },
      /correlation_id must be well-formed Unicode/,
    ],
    [
      'a lone surrogate in display_name',
      { ...TEMPLATE, recipient: { ...TEMPLATE.recipient, display_name: 'Ada \udc00' } },
      /recipient.display_name must be well-formed Unicode/,
    ],
    [
      'a control character in the email',
      { ...TEMPLATE, recipient: { ...TEMPLATE.recipient, email: 'a\u0000b@example.com' } },
      /recipient.email must be an email address/,
    ],
    ['an array', [], /the body must be a JSON object/],
    ['not JSON', '{', /not valid JSON/],
  ];
  it.each(cases)('refuses %s with 400 and a short reason, calling nobody', async (_name, body, reason) => {
    const { handler, api, store } = setup();
    const result = await handler(create(body));
    expect(result.statusCode).toBe(400);
    expect(parsed(result).message).toMatch(reason);
    expect(result.body).not.toContain('colour');
    expect(api.createCalls).toHaveLength(0);
    expect(store.created).toHaveLength(0);
  });

  it('counts characters, not UTF-16 units, as the redirects and links do: 128 emoji are 128 characters', () => {
    const correlationId = '\u{1F600}'.repeat(128);
    expect(
      parseCreateBody(Buffer.from(JSON.stringify({ ...TEMPLATE, correlation_id: correlationId }))),
    ).toBeDefined();
    expect(() =>
      parseCreateBody(Buffer.from(JSON.stringify({ ...TEMPLATE, correlation_id: `${correlationId}x` }))),
    ).toThrow(/correlation_id must be at most 128 characters/);
  });

  it('maps each source to what Cronofy needs', () => {
    const host = parseCreateBody(
      Buffer.from(
        JSON.stringify({
          recipient: TEMPLATE.recipient,
          host_group_sub: 'sel_9',
          summary: 'Onsite',
          duration_minutes: 45,
        }),
      ),
    );
    expect(host.request.source).toEqual({
      kind: 'host_group',
      sub: 'sel_9',
      summary: 'Onsite',
      durationMinutes: 45,
    });
    expect(parseCreateBody(Buffer.from(JSON.stringify(TEMPLATE))).request.source).toEqual({
      kind: 'template',
      sub: 'sgr_0123456789abcdef',
    });
  });

  it('fingerprints the meaning of a body, not its key order', () => {
    const a = parseCreateBody(Buffer.from(JSON.stringify(TEMPLATE)));
    const b = parseCreateBody(
      Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(TEMPLATE).reverse()))),
    );
    const c = parseCreateBody(Buffer.from(JSON.stringify({ ...TEMPLATE, utm_source: 'other' })));
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.fingerprint).not.toBe(c.fingerprint);
  });
});

describe('POST /scheduling-requests: answers', () => {
  it('creates, records pending with the metadata, and answers 201 with the link carrying the metadata', async () => {
    const { handler, api, store, metrics } = setup();
    const result = await handler(create(TEMPLATE));
    expect(result.statusCode).toBe(201);
    expect(parsed(result)).toEqual({
      scheduling_request_id: 'srq_1',
      url: 'https://app.cronofy.com/rts/token1?existing=1&correlation_id=CAND-66&utm_source=ats',
      dashboard_url: 'https://app.cronofy.com/scheduler/requests/1',
    });
    expect(result.headers?.['cache-control']).toBe('no-store');
    expect(api.createCalls).toEqual([
      {
        recipient: { email: 'candidate@example.com', displayName: 'Ada Candidate' },
        source: { kind: 'template', sub: 'sgr_0123456789abcdef' },
      },
    ]);
    expect(store.created).toEqual([
      {
        scheduling_request_id: 'srq_1',
        select_url: 'https://app.cronofy.com/rts/token1?existing=1',
        dashboard_url: 'https://app.cronofy.com/scheduler/requests/1',
        metadata: { correlation_id: 'CAND-66', utm_source: 'ats' },
        created_at: NOW.toISOString(),
      },
    ]);
    expect(JSON.parse(metrics[0] ?? '{}').SchedulingRequestsCreated).toBe(1);
  });

  it("answers Cronofy's 422 as 422 with the errors per field of this API", async () => {
    const { handler, api } = setup();
    api.failWith = new CronofyValidationError('create_scheduling_request', {
      'template.sub': ['is not a template of this application'],
      custom: ['odd'],
    });
    const result = await handler(create(TEMPLATE));
    expect(result.statusCode).toBe(422);
    expect(parsed(result)).toEqual({
      errors: { template_sub: ['is not a template of this application'], custom: ['odd'] },
    });
  });

  it('answers 503 with Retry-After when Cronofy stays unavailable or rate limited, and counts each', async () => {
    for (const [reason, metric] of [
      ['server_error', 'CronofyUnavailable'],
      ['rate_limited', 'CronofyRateLimited'],
    ] as const) {
      const { handler, api, metrics, store, lines } = setup();
      api.failWith = new CronofyUnavailableError('create_scheduling_request', 503, 7, reason, 4);
      const result = await handler(create(TEMPLATE));
      expect(result.statusCode).toBe(503);
      expect(result.headers?.['retry-after']).toBe('7');
      expect(parsed(result).message).not.toMatch(/attempt|503/);
      expect(JSON.parse(metrics[0] ?? '{}')[metric]).toBe(1);
      expect(store.created).toHaveLength(0);
      // The log says why, so a local rate limit is not mistaken for an outage.
      expect(lines.map((line) => JSON.parse(line))).toContainEqual(
        expect.objectContaining({ message: 'cronofy call failed', reason }),
      );
    }
  });

  it('answers 502 saying the credential was rejected, and counts it for the alarm', async () => {
    const { handler, api, metrics } = setup();
    api.failWith = new CredentialRejectedError('create_scheduling_request', 401);
    const result = await handler(create(TEMPLATE));
    expect(result.statusCode).toBe(502);
    expect(parsed(result)).toEqual({
      error: 'cronofy_credential_rejected',
      message: expect.stringMatching(/rejected this service's API credential/),
    });
    expect(JSON.parse(metrics[0] ?? '{}')).toMatchObject({ CronofyCredentialRejected: 1 });
  });

  it('answers 502 without internals for an answer it cannot use, and 503 when the credential cannot be read', async () => {
    const { handler, api } = setup();
    api.failWith = new CronofyRequestError(
      'create_scheduling_request',
      200,
      'unexpected answer from Cronofy at scheduling_request',
    );
    const unusable = await handler(create(TEMPLATE));
    expect(unusable.statusCode).toBe(502);
    expect(unusable.body).not.toContain('scheduling_request.');
    api.failWith = new Error('SecretsUnavailableError');
    const noSecret = await handler(create(TEMPLATE));
    expect(noSecret.statusCode).toBe(503);
    expect(noSecret.headers?.['retry-after']).toBe('5');
  });

  it('still answers 201 when the record cannot be written (Cronofy created it), and logs the id', async () => {
    const { handler, store, lines } = setup();
    store.failNext = new Error('DynamoDB down');
    const result = await handler(create(TEMPLATE));
    expect(result.statusCode).toBe(201);
    expect(lines.join('\n')).toMatch(/created in Cronofy but not recorded.*srq_1/);
  });

  it('refuses a request API Gateway did not authorise with IAM, and unknown routes', async () => {
    const { handler, api } = setup();
    expect((await handler(event('/scheduling-requests', TEMPLATE, { iam: false }))).statusCode).toBe(403);
    expect(
      (await handler(event('/scheduling-requests/x', TEMPLATE, { routeKey: '$default' }))).statusCode,
    ).toBe(404);
    expect(api.createCalls).toHaveLength(0);
  });
});

describe('POST /scheduling-requests: Idempotency-Key', () => {
  const key = { 'Idempotency-Key': 'hire-66-stage-2' };

  it('returns the first answer again and creates nothing more', async () => {
    const { handler, api, store } = setup();
    const first = await handler(create(TEMPLATE, key));
    const second = await handler(create(TEMPLATE, key));
    expect(second.statusCode).toBe(201);
    expect(second.body).toBe(first.body);
    expect(second.headers?.['idempotent-replayed']).toBe('true');
    expect(api.createCalls).toHaveLength(1);
    expect(store.created).toHaveLength(1);
  });

  it('keys are per caller, and a key is not needed', async () => {
    const { handler, api } = setup();
    await handler(create(TEMPLATE, key));
    const other = event('/scheduling-requests', TEMPLATE, { headers: key });
    (other.requestContext as unknown as { authorizer: { iam: { userArn: string } } }).authorizer.iam.userArn =
      'arn:other';
    await handler(other);
    await handler(create(TEMPLATE));
    expect(api.createCalls).toHaveLength(3);
  });

  it('a caller is its role, not its session: a retry from another instance of the same backend is the same caller', async () => {
    const { handler, api } = setup();
    const first = await handler(create(TEMPLATE, key));
    // An ECS task or EC2 instance assumes the role under a session name of its own.
    const retry = event('/scheduling-requests', TEMPLATE, { headers: key });
    (retry.requestContext as unknown as { authorizer: { iam: { userArn: string } } }).authorizer.iam.userArn =
      'arn:aws:sts::123456789012:assumed-role/ats-backend/i-0abc123def4567890';
    const second = await handler(retry);
    expect(second.statusCode).toBe(201);
    expect(second.body).toBe(first.body);
    expect(api.createCalls).toHaveLength(1);
  });

  it('refuses the same key for a different body (422) and a malformed key (400)', async () => {
    const { handler, api } = setup();
    await handler(create(TEMPLATE, key));
    const reused = await handler(create({ ...TEMPLATE, correlation_id: 'CAND-67' }, key));
    expect(reused.statusCode).toBe(422);
    expect(parsed(reused).error).toBe('idempotency_key_reused');
    expect((await handler(create(TEMPLATE, { 'Idempotency-Key': 'k'.repeat(129) }))).statusCode).toBe(400);
    expect(api.createCalls).toHaveLength(1);
  });

  it('makes a concurrent request with the same key wait for the first answer', async () => {
    const { handler, api } = setup({ sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) });
    api.delayMs = 50;
    const [a, b] = await Promise.all([handler(create(TEMPLATE, key)), handler(create(TEMPLATE, key))]);
    expect([a.statusCode, b.statusCode]).toEqual([201, 201]);
    expect(a.body).toBe(b.body);
    expect(api.createCalls).toHaveLength(1);
  });

  it('answers 409 with Retry-After when the first request is still running after the wait', async () => {
    const { handler, idempotency, api } = setup();
    await idempotency.begin(`${CALLER_ROLE}\nhire-66-stage-2`, {
      fingerprint: parseCreateBody(Buffer.from(JSON.stringify(TEMPLATE))).fingerprint,
      token: 'first',
      leaseUntil: NOW.getTime() + 30_000,
      createdAt: NOW.toISOString(),
      expiresAt: NOW.getTime() / 1000 + 86_400,
    });
    const result = await handler(create(TEMPLATE, key));
    expect(result.statusCode).toBe(409);
    expect(Number(result.headers?.['retry-after'])).toBeGreaterThan(0);
    expect(api.createCalls).toHaveLength(0);
  });

  it('recovers a first attempt that crashed after Cronofy answered, without calling Cronofy again', async () => {
    let crash = true;
    const { handler, api, store } = setup({
      afterCreatedSaved: () => {
        if (crash) throw new Error('injected crash');
      },
    });
    const crashed = await handler(create(TEMPLATE, key));
    expect(crashed.statusCode).toBe(503);
    expect(store.created).toHaveLength(0);
    crash = false;
    const retried = await handler(create(TEMPLATE, key));
    expect(retried.statusCode).toBe(201);
    expect(parsed(retried).scheduling_request_id).toBe('srq_1');
    expect(api.createCalls).toHaveLength(1);
    expect(store.created.map((c) => c.scheduling_request_id)).toEqual(['srq_1']);
  });

  it('takes over an attempt whose lease ran out before Cronofy answered it', async () => {
    const { handler, idempotency, api, advance } = setup();
    await idempotency.begin(`${CALLER_ROLE}\nhire-66-stage-2`, {
      fingerprint: parseCreateBody(Buffer.from(JSON.stringify(TEMPLATE))).fingerprint,
      token: 'crashed',
      leaseUntil: NOW.getTime() + 1000,
      createdAt: NOW.toISOString(),
      expiresAt: NOW.getTime() / 1000 + 86_400,
    });
    advance(2000);
    const result = await handler(create(TEMPLATE, key));
    expect(result.statusCode).toBe(201);
    expect(api.createCalls).toHaveLength(1);
  });

  it('releases the key when Cronofy fails, so the retry calls Cronofy again', async () => {
    const { handler, api } = setup();
    api.failWith = new CronofyUnavailableError('create_scheduling_request', undefined, 2, 'network', 4);
    expect((await handler(create(TEMPLATE, key))).statusCode).toBe(503);
    api.failWith = undefined;
    expect((await handler(create(TEMPLATE, key))).statusCode).toBe(201);
    expect(api.createCalls).toHaveLength(2);
  });
});

describe('POST /scheduling-requests/{id}/cancel', () => {
  const cancel = (id: string) => event(`/scheduling-requests/${id}/cancel`, undefined, { id });

  it('cancels in Cronofy, then records cancelled timed when Cronofy accepted it', async () => {
    const { handler, api, store, metrics } = setup();
    const result = await handler(cancel('srq_42'));
    expect(result.statusCode).toBe(200);
    expect(parsed(result)).toEqual({
      scheduling_request_id: 'srq_42',
      status: 'cancelled',
      cancelled_at: NOW.toISOString(),
    });
    expect(api.cancelCalls).toEqual(['srq_42']);
    expect(store.cancelled).toEqual([{ id: 'srq_42', at: NOW.toISOString() }]);
    expect(JSON.parse(metrics[0] ?? '{}').SchedulingRequestsCancelled).toBe(1);
  });

  it('answers 404 for an id Cronofy does not know, and records nothing', async () => {
    const { handler, api, store } = setup();
    api.failWith = new CronofyNotFoundError(
      'cancel_scheduling_request',
      404,
      'Cronofy answered 404 Not Found',
    );
    const result = await handler(cancel('srq_unknown'));
    expect(result.statusCode).toBe(404);
    expect(store.cancelled).toHaveLength(0);
  });

  it('refuses a malformed percent-encoding in the path of a gateway that sends $default, without throwing', async () => {
    const { handler, api } = setup();
    const result = await handler(
      event('/scheduling-requests/%ZZ/cancel', undefined, { routeKey: '$default' }),
    );
    expect(result.statusCode).toBe(400);
    expect(api.cancelCalls).toHaveLength(0);
  });

  it('refuses an id that is not one, and answers 503 when the record cannot be written', async () => {
    const { handler, api, store } = setup();
    expect((await handler(cancel('srq%20x'))).statusCode).toBe(400);
    expect(api.cancelCalls).toHaveLength(0);
    store.failNext = new Error('DynamoDB down');
    const result = await handler(cancel('srq_1'));
    expect(result.statusCode).toBe(503);
    expect(result.headers?.['retry-after']).toBe('5');
  });
});

describe('scheduling requests for a tenant (an integrator customer with its own Organizational Unit)', () => {
  const withTenant = (tenantId: string) => ({ ...TEMPLATE, tenant_id: tenantId });
  const cancel = (id: string) => event(`/scheduling-requests/${id}/cancel`, undefined, { id });
  function tenantSetup() {
    const credentials = fakeTenantCredentials();
    const api = new FakeCronofyApi(credentials);
    return { ...setup({ api }), api, credentials };
  }

  it("creates with that tenant's credential and records the tenant; without one, the deployment's own as before", async () => {
    const { handler, api, store } = tenantSetup();
    expect((await handler(create(withTenant('a')))).statusCode).toBe(201);
    expect((await handler(create(withTenant('b')))).statusCode).toBe(201);
    expect((await handler(create(TEMPLATE))).statusCode).toBe(201);
    expect(api.credentialsUsed).toEqual([
      { tenant: 'a', credential: 'OU_token_a' },
      { tenant: 'b', credential: 'OU_token_b' },
      { tenant: undefined, credential: 'deployment_credential' },
    ]);
    expect(store.created.map((created) => created.tenant_id)).toEqual(['a', 'b', undefined]);
    expect(store.created[2]).not.toHaveProperty('tenant_id');
  });

  it('refuses a malformed tenant_id with a 400 naming the field, before calling Cronofy', async () => {
    const { handler, api } = tenantSetup();
    for (const bad of ['', 'a b', 'x'.repeat(65), 'tenant/1', 7, null]) {
      const result = await handler(create({ ...TEMPLATE, tenant_id: bad }));
      expect(result.statusCode).toBe(400);
      expect(parsed(result).message).toMatch(/^tenant_id must be/);
    }
    expect(api.createCalls).toHaveLength(0);
  });

  it('answers exactly 404 {"error":"unknown_tenant"} and 409 {"error", "tenant_id"} for a tenant it cannot call for', async () => {
    const { handler, store, metrics } = tenantSetup();
    const unknown = await handler(create(withTenant('zed')));
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toBe('{"error":"unknown_tenant"}');
    const disconnected = await handler(create(withTenant('c')));
    expect(disconnected.statusCode).toBe(409);
    expect(disconnected.body).toBe('{"error":"tenant_disconnected","tenant_id":"c"}');
    const notConnected = await handler(create(withTenant('n')));
    expect(notConnected.statusCode).toBe(409);
    expect(notConnected.body).toBe('{"error":"tenant_not_connected","tenant_id":"n"}');
    expect(store.created).toHaveLength(0);
    // Counted per tenant state, and not as Cronofy failures: nothing for the credential or availability alarms.
    expect(metrics.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ SchedulingRequestsUnknownTenant: 1 }),
      expect.objectContaining({ SchedulingRequestsTenantDisconnected: 1 }),
      expect.objectContaining({ SchedulingRequestsTenantNotConnected: 1 }),
    ]);
    expect(metrics.join('\n')).not.toMatch(/Cronofy/);
  });

  it('releases the Idempotency-Key of a tenant that could not be called for, so the retry after reconnecting creates it', async () => {
    const { handler, api, idempotency } = tenantSetup();
    const key = { 'Idempotency-Key': 'job-1' };
    expect((await handler(create(withTenant('c'), key))).statusCode).toBe(409);
    expect(idempotency.items.size).toBe(0);
    expect((await handler(create(withTenant('a'), key))).statusCode).toBe(201);
    expect(api.credentialsUsed).toEqual([{ tenant: 'a', credential: 'OU_token_a' }]);
  });

  it('keeps Idempotency-Key per caller and tenant: one key for two tenants creates two requests, each replayed', async () => {
    const { handler, api, store, idempotency } = tenantSetup();
    const key = { 'Idempotency-Key': 'job-1' };
    const a = await handler(create(withTenant('a'), key));
    const b = await handler(create(withTenant('b'), key));
    const none = await handler(create(TEMPLATE, key));
    expect(new Set([a.body, b.body, none.body]).size).toBe(3);
    const again = await handler(create(withTenant('b'), key));
    expect(again.body).toBe(b.body);
    expect(again.headers?.['idempotent-replayed']).toBe('true');
    expect(api.createCalls).toHaveLength(3);
    expect(store.created.map((created) => created.tenant_id)).toEqual(['a', 'b', undefined]);
    // Without a tenant, the scope is what it was before tenants (keys given then still replay).
    expect([...idempotency.items.keys()]).toEqual([
      `${CALLER_ROLE}\njob-1\na`,
      `${CALLER_ROLE}\njob-1\nb`,
      `${CALLER_ROLE}\njob-1`,
    ]);
    expect([...idempotency.items.values()].map((item) => item.tenantId)).toEqual(['a', 'b', undefined]);
  });

  it("cancels with the tenant of the record, and a request with no record or no tenant with the deployment's own", async () => {
    const { handler, api, store } = tenantSetup();
    store.tenants.set('srq_b', 'b');
    store.tenants.set('srq_c', 'c');
    expect((await handler(cancel('srq_b'))).statusCode).toBe(200);
    expect((await handler(cancel('srq_unrecorded'))).statusCode).toBe(200);
    const disconnected = await handler(cancel('srq_c'));
    expect(disconnected.statusCode).toBe(409);
    expect(disconnected.body).toBe('{"error":"tenant_disconnected","tenant_id":"c"}');
    expect(api.credentialsUsed).toEqual([
      { tenant: 'b', credential: 'OU_token_b' },
      { tenant: undefined, credential: 'deployment_credential' },
    ]);
    expect(store.cancelled.map((c) => c.id)).toEqual(['srq_b', 'srq_unrecorded']);
  });

  it('answers 503 without calling Cronofy when the record cannot be read before a cancel', async () => {
    const { handler, api, store } = tenantSetup();
    store.failRead = new Error('DynamoDB down');
    const result = await handler(cancel('srq_1'));
    expect(result.statusCode).toBe(503);
    expect(api.cancelCalls).toHaveLength(0);
  });

  it("after Cronofy's 401 invalidates that tenant's token and retries once; a second 401 says the tenant's token, not the secret", async () => {
    const credentials = fakeTenantCredentials();
    const authorizations: (string | null)[] = [];
    let statuses = [401, 200];
    const api = makeCronofyApi({
      baseUrl: 'https://api.cronofy.test',
      credentials,
      limiter: new RateLimiter({ limit: { perSecond: 100, perMinute: 1000 } }),
      fetch: async (_url, init) => {
        authorizations.push(new Headers(init?.headers).get('authorization'));
        const status = statuses.shift() ?? 401;
        const body =
          status === 200
            ? {
                scheduling_request: {
                  scheduling_request_id: 'srq_1',
                  primary_select_url: 'https://x.test/s',
                },
              }
            : {};
        return new Response(JSON.stringify(body), { status });
      },
    });
    const { handler, metrics } = setup({ api });
    expect((await handler(create(withTenant('a')))).statusCode).toBe(201);
    expect(credentials.invalidated).toEqual(['a']);
    expect(authorizations).toEqual(['Bearer OU_token_a', 'Bearer OU_token_a']);

    statuses = [401, 401];
    const rejected = await handler(create(withTenant('b')));
    expect(rejected.statusCode).toBe(502);
    expect(parsed(rejected).message).toMatch(/rejected the tenant's access token/);
    // The tenant's to reconnect, not the secret's api_credential: not the CronofyCredentialRejected alarm.
    expect(metrics.map((line) => JSON.parse(line))).toContainEqual(
      expect.objectContaining({ TenantCredentialRejected: 1 }),
    );
    expect(metrics.join('\n')).not.toContain('CronofyCredentialRejected');
    expect(credentials.invalidated).toEqual(['a', 'b']);
  });
});
