import { describe, expect, it } from 'vitest';
import { parseSecretDocument, StaticSecrets } from '#shared/aws/secrets.ts';
import { UnknownTenantError } from '#shared/core/errors.ts';
import { silentLogger } from '#shared/core/logger.ts';
import type { CredentialProvider } from '#shared/core/ports.ts';
import type { NewSchedulingRequest } from '#shared/cronofy/api.ts';
import {
  type CronofyApiDeps,
  createRequestBody,
  cronofyApiBaseUrl,
  DEFAULT_RETRY,
  makeCronofyApi,
} from '#shared/cronofy/api-client.ts';
import {
  CredentialRejectedError,
  CronofyNotFoundError,
  CronofyRequestError,
  CronofyUnavailableError,
  CronofyValidationError,
} from '#shared/cronofy/api-errors.ts';
import { secretsCredentialProvider } from '#shared/cronofy/credentials.ts';
import { cronofyClient } from '#shared/cronofy/from-env.ts';
import { CRONOFY_RATE_LIMIT, RateLimiter } from '#shared/cronofy/rate-limiter.ts';
import { capturingLogger } from '../support/capturing-logger.ts';
import { maxInWindow, VirtualClock } from '../support/virtual-clock.ts';

const CREDENTIAL = 'CRN_unit_test_credential';
const BASE = 'https://api.cronofy.com';

type Scripted = Response | Error | 'hang' | ((request: Request) => Response);

interface Recorded {
  url: string;
  headers: Headers;
  body: Record<string, unknown>;
  at: number;
  signal: AbortSignal | undefined;
}

/** A fetch that answers from a script (the last entry repeats) and records every request. */
function scriptedFetch(script: Scripted[], clock?: VirtualClock) {
  const calls: Recorded[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const request = new Request(input, init);
    calls.push({
      url: request.url,
      headers: request.headers,
      body: JSON.parse(String(init?.body ?? '{}')),
      at: clock?.now() ?? 0,
      signal: init?.signal ?? undefined,
    });
    const next = script.length > 1 ? script.shift() : script[0];
    if (next === undefined) throw new Error('script is empty');
    if (next === 'hang') {
      return new Promise<Response>((_, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
    }
    if (next instanceof Error) throw next;
    return typeof next === 'function' ? next(request) : next.clone();
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

const srq = (id: string, extra: Record<string, unknown> = {}) => ({
  scheduling_request_id: id,
  slot_selection: 'pending',
  primary_select_url: `https://app.cronofy.com/rts/${id}`,
  dashboard_url: `https://app.cronofy.com/scheduler/requests/${id}`,
  ...extra,
});

const staticCredential = (value = CREDENTIAL): CredentialProvider & { tenants: (string | undefined)[] } => {
  const tenants: (string | undefined)[] = [];
  return {
    tenants,
    get: async (tenant) => {
      tenants.push(tenant);
      return value;
    },
  };
};

function client(script: Scripted[], overrides: Partial<CronofyApiDeps> = {}) {
  const clock = new VirtualClock(1_700_000_000_000, true);
  const { fetch, calls } = scriptedFetch(script, clock);
  const { logger, lines } = capturingLogger();
  const api = makeCronofyApi({
    baseUrl: BASE,
    credentials: staticCredential(),
    limiter: new RateLimiter({ now: clock.now, sleep: clock.sleep }),
    fetch,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    logger,
    ...overrides,
  });
  return { api, calls, clock, lines };
}

const TEMPLATE: NewSchedulingRequest = {
  recipient: { email: 'candidate@example.com', displayName: 'Casey Candidate' },
  source: { kind: 'template', sub: 'sgr_template1' },
};

describe('Cronofy API client: requests', () => {
  it('creates from a template with the documented body, bearer and JSON headers, keeping fields Cronofy adds', async () => {
    const { api, calls } = client([
      json(200, { scheduling_request: srq('srq_1', { brand_new_field: { x: 1 } }) }),
    ]);

    const created = await api.createSchedulingRequest(TEMPLATE);

    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe('https://api.cronofy.com/v1/scheduling_requests');
    expect(calls[0]?.headers.get('authorization')).toBe(`Bearer ${CREDENTIAL}`);
    expect(calls[0]?.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(calls[0]?.body).toEqual({
      template: { sub: 'sgr_template1' },
      recipients: [{ email: 'candidate@example.com', display_name: 'Casey Candidate', slot_selector: true }],
    });
    expect(created.scheduling_request_id).toBe('srq_1');
    expect(created.primary_select_url).toBe('https://app.cronofy.com/rts/srq_1');
    expect(created.brand_new_field).toEqual({ x: 1 });
  });

  it('builds host and host-group bodies with the event summary and duration', () => {
    const recipient = { email: 'c@example.com', displayName: 'C' };
    expect(
      createRequestBody({
        recipient,
        source: { kind: 'host', sub: 'acc_1', summary: 'Interview', durationMinutes: 45 },
      }),
    ).toEqual({
      host: { sub: 'acc_1' },
      recipients: [{ email: 'c@example.com', display_name: 'C', slot_selector: true }],
      event: { summary: 'Interview' },
      duration: { minutes: 45 },
    });
    expect(
      createRequestBody({
        recipient,
        source: { kind: 'host_group', sub: 'sel_1', summary: 'Panel', durationMinutes: 60 },
      }),
    ).toMatchObject({ host_group: { sub: 'sel_1' }, event: { summary: 'Panel' }, duration: { minutes: 60 } });
  });

  it('queries in batches of 50 distinct ids and accepts wrapped and bare objects', async () => {
    const ids = Array.from({ length: 120 }, (_, i) => `srq_${i}`);
    // Answer each batch with its own ids, alternately wrapped as documented and bare.
    const batches: string[][] = [];
    const echo = makeCronofyApi({
      baseUrl: BASE,
      credentials: staticCredential(),
      limiter: new RateLimiter(),
      fetch: (async (_url: string, init?: RequestInit) => {
        const wanted = JSON.parse(String(init?.body)).scheduling_request_ids as string[];
        batches.push(wanted);
        return json(200, {
          scheduling_requests: wanted.map((id, i) =>
            i % 2 === 0 ? { scheduling_request: srq(id) } : srq(id),
          ),
        });
      }) as typeof globalThis.fetch,
    });

    const found = await echo.querySchedulingRequests([...ids, 'srq_0', 'srq_5']);

    expect(batches.map((batch) => batch.length)).toEqual([50, 50, 20]);
    expect(batches.flat()).toEqual(ids);
    expect(found.map((request) => request.scheduling_request_id)).toEqual(ids);
    expect(await echo.querySchedulingRequests([])).toEqual([]);
    expect(batches).toHaveLength(3);
  });

  it('cancels with the id in the body and accepts 202 with no body', async () => {
    const { api, calls } = client([new Response(null, { status: 202 })]);

    await api.cancelSchedulingRequest('srq_9');

    expect(calls[0]?.url).toBe('https://api.cronofy.com/v1/scheduling_requests/cancel');
    expect(calls[0]?.body).toEqual({ scheduling_request_id: 'srq_9' });
  });

  it('asks the credential provider for the tenant of the call', async () => {
    const credentials = staticCredential('OU_token_for_acme');
    const { api, calls } = client([new Response(null, { status: 202 })], { credentials });

    await api.cancelSchedulingRequest('srq_9', { tenant: 'acme' });

    expect(credentials.tenants).toEqual(['acme']);
    expect(calls[0]?.headers.get('authorization')).toBe('Bearer OU_token_for_acme');
  });
});

describe('Cronofy API client: data center and credential', () => {
  it('uses the data center host unless overridden', () => {
    expect(cronofyApiBaseUrl('us')).toBe('https://api.cronofy.com');
    expect(cronofyApiBaseUrl('uk')).toBe('https://api-uk.cronofy.com');
    expect(cronofyApiBaseUrl('sg')).toBe('https://api-sg.cronofy.com');
    expect(cronofyApiBaseUrl('de', 'http://127.0.0.1:3100/')).toBe('http://127.0.0.1:3100');
    expect(() => cronofyApiBaseUrl('us', 'ftp://example.com')).toThrow(RangeError);
  });

  it("takes the secret's api_credential, else the first client secret", async () => {
    const base = { clientSecrets: ['CRN_first', 'CRN_second'], embedPublicKey: 'EMB', embedSecret: 'ESK' };
    expect(await secretsCredentialProvider(new StaticSecrets(base)).get()).toBe('CRN_first');
    expect(
      await secretsCredentialProvider(new StaticSecrets({ ...base, apiCredential: 'OU_token' })).get('t'),
    ).toBe('OU_token');
  });

  it("knows no tenant without a tenant credential provider: a call for one is refused, never made with the secret's", async () => {
    const fetch = async () => json(200, { scheduling_request: srq('srq_1') });
    const secrets = new StaticSecrets({ clientSecrets: ['CRN_a'], embedPublicKey: 'E', embedSecret: 'S' });
    const api = cronofyClient({
      dataCenter: 'us',
      rateLimit: CRONOFY_RATE_LIMIT,
      secrets,
      logger: silentLogger,
      fetch,
    });
    await expect(api.createSchedulingRequest(TEMPLATE, { tenant: 'acme' })).rejects.toBeInstanceOf(
      UnknownTenantError,
    );
    expect((await api.createSchedulingRequest(TEMPLATE)).scheduling_request_id).toBe('srq_1');
  });

  it('reads api_credential from the secret document and leaves out a malformed one', () => {
    const doc = { client_secrets: ['CRN_a'], embed_public_key: 'EMB', embed_secret: 'ESK' };
    expect(parseSecretDocument(JSON.stringify({ ...doc, api_credential: 'OU_tok' })).apiCredential).toBe(
      'OU_tok',
    );
    expect(parseSecretDocument(JSON.stringify(doc))).not.toHaveProperty('apiCredential');
    expect(parseSecretDocument(JSON.stringify({ ...doc, api_credential: 42 }))).not.toHaveProperty(
      'apiCredential',
    );
  });
});

describe('Cronofy API client: retries', () => {
  it('retries 503, 429 and a network error with growing jittered backoff, then succeeds', async () => {
    const { api, calls, clock, lines } = client(
      [
        json(503, {}),
        json(429, {}),
        new TypeError('fetch failed'),
        json(200, { scheduling_requests: [{ scheduling_request: srq('srq_1') }] }),
      ],
      { random: () => 1 },
    );

    const found = await api.querySchedulingRequests(['srq_1']);

    expect(found).toHaveLength(1);
    expect(calls).toHaveLength(4);
    // Backoff n is between half and all of 250 ms · 2^(n-1); random() = 1 gives the top of each range.
    expect(clock.slept).toEqual([250, 500, 1000]);
    expect(lines.map((line) => JSON.parse(line).reason)).toEqual(['server_error', 'rate_limited', 'network']);
    expect(lines.join('\n')).not.toContain(CREDENTIAL);
    expect(lines.join('\n')).not.toContain('srq_1');
  });

  it('reads a query answer whose metadata holds a list or an object, without refusing the batch', async () => {
    const withMetadata = srq('srq_2', {
      event: { metadata: { scheduler: { 'captured_data.rooms': ['A', 'B'] } } },
    });
    const { api } = client([
      json(200, { scheduling_requests: [{ scheduling_request: srq('srq_1') }, withMetadata] }),
    ]);
    const found = await api.querySchedulingRequests(['srq_1', 'srq_2']);
    expect(found.map((item) => item.scheduling_request_id)).toEqual(['srq_1', 'srq_2']);
    expect(found[1]?.event?.metadata?.scheduler?.['captured_data.rooms']).toEqual(['A', 'B']);
  });

  it('jitters each wait between half and all of its ceiling', async () => {
    const { api, clock } = client([json(500, {}), json(500, {}), json(202, {})], { random: () => 0 });
    await api.cancelSchedulingRequest('srq_1');
    expect(clock.slept).toEqual([125, 250]);
  });

  it('gives up after the attempt budget with CronofyUnavailableError and a retry-after hint', async () => {
    const { api, calls } = client([json(502, {})]);

    const failure = api.querySchedulingRequests(['srq_1']);

    await expect(failure).rejects.toBeInstanceOf(CronofyUnavailableError);
    await expect(failure).rejects.toMatchObject({
      status: 502,
      reason: 'server_error',
      attempts: DEFAULT_RETRY.maxAttempts,
    });
    expect(
      ((await failure.catch((e) => e)) as CronofyUnavailableError).retryAfterSeconds,
    ).toBeGreaterThanOrEqual(1);
    expect(calls).toHaveLength(DEFAULT_RETRY.maxAttempts);
  });

  it('gives up when the next wait would pass the time budget', async () => {
    const { api, calls, clock } = client([json(500, {})], {
      retry: { maxAttempts: 10, maxTotalMs: 1000, baseDelayMs: 300, maxDelayMs: 10_000 },
      random: () => 1,
    });

    await expect(api.cancelSchedulingRequest('srq_1')).rejects.toBeInstanceOf(CronofyUnavailableError);

    // Waits 300 then 600 (900 ms in); the next (1,200) would end past 1,000.
    expect(clock.slept).toEqual([300, 600]);
    expect(calls).toHaveLength(3);
  });

  it('honours Retry-After on 429 and passes it on when it is beyond the budget', async () => {
    const short = client([json(429, {}, { 'retry-after': '2' }), json(202, {})]);
    await short.api.cancelSchedulingRequest('srq_1');
    expect(short.clock.slept).toEqual([2000]);

    const long = client([json(429, {}, { 'retry-after': '30' })]);
    const failure = long.api.cancelSchedulingRequest('srq_1');
    await expect(failure).rejects.toMatchObject({
      reason: 'rate_limited',
      status: 429,
      retryAfterSeconds: 30,
    });
    expect(long.calls).toHaveLength(1);
  });

  it('counts every attempt against the limiter: 120 concurrent queries with retries stay under 50/s', async () => {
    const clock = new VirtualClock(0);
    const failedOnce = new Set<string>();
    const { fetch, calls } = scriptedFetch(
      [
        (request) => {
          void request;
          const id = String(calls.at(-1)?.body.scheduling_request_ids);
          // The first attempt for every third id fails with a 503 and is retried.
          if (Number(id.slice(4)) % 3 === 0 && !failedOnce.has(id)) {
            failedOnce.add(id);
            return json(503, {});
          }
          return json(200, { scheduling_requests: [] });
        },
      ],
      clock,
    );
    const api = makeCronofyApi({
      baseUrl: BASE,
      credentials: staticCredential(),
      limiter: new RateLimiter({ now: clock.now, sleep: clock.sleep }),
      fetch,
      now: clock.now,
      sleep: clock.sleep,
      retry: { maxTotalMs: 60_000 },
    });

    await clock.run(
      Promise.all(Array.from({ length: 120 }, (_, i) => api.querySchedulingRequests([`srq_${i}`]))),
    );

    expect(calls).toHaveLength(160);
    expect(
      maxInWindow(
        calls.map((call) => call.at),
        1000,
      ),
    ).toBeLessThanOrEqual(50);
    expect(
      maxInWindow(
        calls.map((call) => call.at),
        1000,
      ),
    ).toBe(50);
  });

  it('fails fast with local_rate_limit when no limiter slot comes within the budget, calling nothing', async () => {
    const clock = new VirtualClock(0, true);
    const limiter = new RateLimiter({
      now: clock.now,
      sleep: clock.sleep,
      limit: { perSecond: 1, perMinute: 1 },
    });
    const { api, calls } = client([json(202, {})], { limiter, now: clock.now, sleep: clock.sleep });
    await api.cancelSchedulingRequest('srq_1');

    const failure = api.cancelSchedulingRequest('srq_2');

    await expect(failure).rejects.toMatchObject({
      reason: 'local_rate_limit',
      retryAfterSeconds: 60,
      attempts: 0,
    });
    expect(calls).toHaveLength(1);
  });
});

describe('Cronofy API client: error mapping', () => {
  it('maps 422 to CronofyValidationError with {param: [message]}, without retrying', async () => {
    const { api, calls } = client([
      json(422, {
        errors: {
          recipients: [{ key: 'errors.required', description: 'recipients must be specified' }],
          'template.sub': [{ key: 'errors.unknown' }, 'plain string'],
        },
      }),
    ]);

    const error = (await api.createSchedulingRequest(TEMPLATE).catch((e) => e)) as CronofyValidationError;

    expect(error).toBeInstanceOf(CronofyValidationError);
    expect(error.errors).toEqual({
      recipients: ['recipients must be specified'],
      'template.sub': ['errors.unknown', 'plain string'],
    });
    expect(calls).toHaveLength(1);
  });

  it('maps a 422 it cannot read to a generic entry', async () => {
    const { api } = client([new Response('<html>nope</html>', { status: 422 })]);
    await expect(api.createSchedulingRequest(TEMPLATE)).rejects.toMatchObject({
      errors: { request: ['Cronofy rejected the request'] },
    });
  });

  it('maps 401 and 403 to CredentialRejectedError without retrying, and never puts the credential in the message', async () => {
    for (const status of [401, 403]) {
      const { api, calls } = client([json(status, {})]);
      const error = (await api.cancelSchedulingRequest('srq_1').catch((e) => e)) as CredentialRejectedError;
      expect(error).toBeInstanceOf(CredentialRejectedError);
      expect(error.status).toBe(status);
      expect(error.message).not.toContain(CREDENTIAL);
      expect(calls).toHaveLength(1);
    }
  });

  it('after a 401 lets a refreshing provider invalidate and retries once with the new credential', async () => {
    const issued = ['OU_stale', 'OU_fresh', 'OU_fresher'];
    let invalidated = 0;
    const credentials: CredentialProvider = {
      get: async () => issued[0] ?? '',
      invalidate: () => {
        invalidated++;
        issued.shift();
      },
    };
    const ok = client([json(401, {}), json(202, {})], { credentials });
    await ok.api.cancelSchedulingRequest('srq_1');
    expect(ok.calls.map((call) => call.headers.get('authorization'))).toEqual([
      'Bearer OU_stale',
      'Bearer OU_fresh',
    ]);

    const rejected = client([json(401, {})], { credentials });
    await expect(rejected.api.cancelSchedulingRequest('srq_1')).rejects.toBeInstanceOf(
      CredentialRejectedError,
    );
    expect(rejected.calls).toHaveLength(2);
    expect(invalidated).toBe(2);
  });

  it('maps 404 to CronofyNotFoundError and other 4xx to CronofyRequestError, neither retried', async () => {
    const missing = client([json(404, {})]);
    await expect(missing.api.cancelSchedulingRequest('srq_unknown')).rejects.toBeInstanceOf(
      CronofyNotFoundError,
    );
    expect(missing.calls).toHaveLength(1);

    const plan = client([json(402, {})]);
    await expect(plan.api.createSchedulingRequest(TEMPLATE)).rejects.toMatchObject({
      name: 'CronofyRequestError',
      status: 402,
    });
    expect(plan.calls).toHaveLength(1);
  });

  it('rejects a 2xx answer without what the operation needs, naming paths but no values', async () => {
    const { api } = client([json(200, { scheduling_request: { summary: 'Casey Candidate interview' } })]);
    const error = (await api.createSchedulingRequest(TEMPLATE).catch((e) => e)) as CronofyRequestError;
    expect(error).toBeInstanceOf(CronofyRequestError);
    expect(error.message).toContain('scheduling_request.scheduling_request_id');
    expect(error.message).not.toContain('Casey');
  });
});

describe('Cronofy API client: timeouts', () => {
  it('aborts an attempt after the timeout and retries a query until the budget is spent', async () => {
    const { api, calls } = client(['hang'], { timeoutMs: 20 });

    const error = (await api.querySchedulingRequests(['srq_1']).catch((e) => e)) as CronofyUnavailableError;

    expect(error).toBeInstanceOf(CronofyUnavailableError);
    expect(error.reason).toBe('timeout');
    expect(calls).toHaveLength(DEFAULT_RETRY.maxAttempts);
    expect(calls.every((call) => call.signal?.aborted)).toBe(true);
  });

  it('does not repeat a create that timed out (it may have been carried out)', async () => {
    const { api, calls } = client(['hang'], { timeoutMs: 20 });

    await expect(api.createSchedulingRequest(TEMPLATE)).rejects.toMatchObject({
      reason: 'timeout',
      attempts: 1,
    });
    expect(calls).toHaveLength(1);
  });

  it("stops at once when the caller aborts, with the caller's reason", async () => {
    const controller = new AbortController();
    const { api, calls } = client(['hang'], { timeoutMs: 5000 });

    const call = api.querySchedulingRequests(['srq_1'], { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('caller gave up')), 10);

    await expect(call).rejects.toThrow('caller gave up');
    expect(calls).toHaveLength(1);
  });
});
