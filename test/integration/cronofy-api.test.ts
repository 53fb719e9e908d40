import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CronofyApiDeps, makeCronofyApi } from '#shared/cronofy/api-client.ts';
import {
  CredentialRejectedError,
  CronofyNotFoundError,
  CronofyUnavailableError,
  CronofyValidationError,
} from '#shared/cronofy/api-errors.ts';
import { RateLimiter } from '#shared/cronofy/rate-limiter.ts';
import { verifySignature } from '#shared/notifications/signature.ts';
import { type CronofyFake, startCronofyFake } from '../../infra/local/cronofy-fake.ts';
import { freePort } from '../../infra/local/services.ts';
import { VirtualClock } from '../support/virtual-clock.ts';

/** The client against the fake over real HTTP, and the fake sending real signed notifications. */

const SECRET = 'CRN_integration_client_secret';
const CREDENTIAL = 'OU_integration_api_credential';
const recipient = { email: 'casey@example.com', displayName: 'Casey Candidate' };

interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A notification receiver standing in for the gateway: keeps each request's exact bytes, answers 202. */
async function startReceiver(): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createHttpServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    received.push({ headers: request.headers, body: Buffer.concat(chunks) });
    response.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"accepted"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/cronofy/notifications`, received, server };
}

function apiFor(fake: { url: string }, overrides: Partial<CronofyApiDeps> = {}) {
  return makeCronofyApi({
    baseUrl: fake.url,
    credentials: { get: async () => CREDENTIAL },
    limiter: new RateLimiter(),
    timeoutMs: 15_000, // generous: these tests are about answers, not speed (timeouts have their own)
    retry: { baseDelayMs: 20, maxDelayMs: 100 },
    ...overrides,
  });
}

const post = (url: string, body: unknown, bearer = CREDENTIAL) =>
  fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(body),
  });

describe('Cronofy API client against the fake', () => {
  let fake: CronofyFake;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    receiver = await startReceiver();
    fake = await startCronofyFake({
      notificationUrl: receiver.url,
      clientSecret: SECRET,
      apiCredential: CREDENTIAL,
    });
  });
  afterAll(async () => {
    await fake.close();
    await new Promise((resolve) => receiver.server.close(resolve));
  });

  it('creates from a template, finds it with query, cancels it, and maps an unknown id to 404', async () => {
    const api = apiFor(fake);

    const created = await api.createSchedulingRequest({
      recipient,
      source: { kind: 'template', sub: 'sgr_abc' },
    });
    const [found] = await api.querySchedulingRequests([created.scheduling_request_id, 'srq_unknown']);
    await api.cancelSchedulingRequest(created.scheduling_request_id);

    expect(created.scheduling_request_id).toMatch(/^srq_[0-9a-f]{24}$/);
    expect(created.primary_select_url).toMatch(new RegExp(`^${fake.url}/rts/[A-Za-z0-9_-]+$`));
    expect(created.slot_selection).toBe('pending');
    expect(created.recipients).toEqual([
      expect.objectContaining({
        email: recipient.email,
        display_name: recipient.displayName,
        slot_selector: true,
      }),
    ]);
    expect(found?.scheduling_request_id).toBe(created.scheduling_request_id);
    const dashboard = await fetch(created.dashboard_url ?? '');
    expect(dashboard.status).toBe(200);
    expect(await dashboard.text()).toContain(`${created.scheduling_request_id} is cancelled`);
    expect(fake.get(created.scheduling_request_id)?.recipient_operations).toEqual({});
    await expect(api.cancelSchedulingRequest('srq_unknown')).rejects.toBeInstanceOf(CronofyNotFoundError);
  });

  it('creates with a host: the summary and duration are kept', async () => {
    const api = apiFor(fake);
    const created = await api.createSchedulingRequest({
      recipient,
      source: { kind: 'host', sub: 'acc_host1', summary: 'Technical interview', durationMinutes: 45 },
    });
    expect(created.summary).toBe('Technical interview');
    expect(created.duration?.minutes).toBe(45);
  });

  it("maps Cronofy's 422 to CronofyValidationError with the fake's errors map", async () => {
    const api = apiFor(fake);

    const badTemplate = await api
      .createSchedulingRequest({ recipient, source: { kind: 'template', sub: 'tpl_wrong' } })
      .catch((error) => error);
    const noSummary = await api
      .createSchedulingRequest({
        recipient,
        source: { kind: 'host_group', sub: 'sel_1', summary: '', durationMinutes: 0 },
      })
      .catch((error) => error);

    expect(badTemplate).toBeInstanceOf(CronofyValidationError);
    expect(badTemplate.errors).toEqual({ 'template.sub': ['must be a sgr_… id'] });
    expect(noSummary.errors).toEqual({
      'event.summary': ['required'],
      'duration.minutes': ['required: a whole number of minutes'],
    });
    // Missing recipients, in Cronofy's shape (the client cannot send this).
    const raw = await post(`${fake.url}/v1/scheduling_requests`, { template: { sub: 'sgr_abc' } });
    expect(raw.status).toBe(422);
    expect(await raw.json()).toEqual({
      errors: { recipients: [{ key: 'errors.required', description: 'required' }] },
    });
  });

  it('maps 401 for a wrong credential to CredentialRejectedError', async () => {
    const before = fake.stats.unauthorized;
    const api = apiFor(fake, { credentials: { get: async () => 'CRN_wrong' } });

    await expect(api.querySchedulingRequests(['srq_1'])).rejects.toBeInstanceOf(CredentialRejectedError);
    expect(fake.stats.unauthorized).toBe(before + 1);
  });

  it('books a request: the notification is signed with the client secret and carries the visit metadata', async () => {
    const api = apiFor(fake);
    const created = await api.createSchedulingRequest({
      recipient,
      source: { kind: 'template', sub: 'sgr_abc' },
    });
    const id = created.scheduling_request_id;
    const link = new URL(created.primary_select_url ?? '');
    link.searchParams.set('correlation_id', 'CAND-66');
    link.searchParams.set('utm_source', 'email');
    link.searchParams.set('utm_medium', 'x'.repeat(129)); // over 128: dropped, as Cronofy does
    link.searchParams.set('not_allowed', 'ignored');
    expect((await fetch(link)).status).toBe(200);
    const start = '2030-01-15T14:00:00Z';
    const end = '2030-01-15T14:45:00Z';
    const seen = receiver.received.length;

    const booked = await fetch(`${fake.url}/_fake/scheduling_requests/${id}/time_chosen`, {
      method: 'POST',
      body: JSON.stringify({ start, end }),
    });

    expect(booked.status).toBe(200);
    expect(((await booked.json()) as { notification: unknown }).notification).toEqual({
      sent: true,
      status: 202,
    });
    expect(receiver.received).toHaveLength(seen + 1);
    const delivery = receiver.received[seen] as Received;
    const header = delivery.headers['cronofy-hmac-sha256'] as string;
    expect(verifySignature(delivery.body, header, [SECRET])).toBe(true);
    expect(verifySignature(delivery.body, header, ['CRN_some_other_secret'])).toBe(false);
    const notification = JSON.parse(delivery.body.toString('utf8'));
    expect(notification.notification.type).toBe('scheduling_request_time_chosen');
    expect(notification.notification.triggered_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(notification.scheduling_request).toMatchObject({
      scheduling_request_id: id,
      slot_selection: 'complete',
      event: {
        start: { time: start },
        end: { time: end },
        host: { status: 'accepted' },
        attendees: [{ email: recipient.email, status: 'accepted' }],
        metadata: { scheduler: { correlation_id: 'CAND-66', utm_source: 'email' } },
      },
    });
    expect(Object.keys(notification.scheduling_request.event.metadata.scheduler).sort()).toEqual([
      'correlation_id',
      'utm_source',
    ]);

    // A reschedule without notifying changes what the query shows, and sends nothing.
    const moved = await fetch(`${fake.url}/_fake/scheduling_requests/${id}/rescheduled`, {
      method: 'POST',
      body: JSON.stringify({ notify: false }),
    });
    expect(moved.status).toBe(200);
    expect(receiver.received).toHaveLength(seen + 1);
    const [after] = await api.querySchedulingRequests([id]);
    expect(after?.event?.start).toEqual({ time: '2030-01-16T14:00:00Z', tzid: 'Etc/UTC' });

    // Declining notifies with the attendee's new status.
    await fetch(`${fake.url}/_fake/scheduling_requests/${id}/declined`, { method: 'POST' });
    const declined = JSON.parse((receiver.received[seen + 1] as Received).body.toString('utf8'));
    expect(declined.notification.type).toBe('scheduling_request_declined');
    expect(declined.scheduling_request.event.attendees[0].status).toBe('declined');
    // The fake's own state, beside the object the query returns.
    const control = await fetch(`${fake.url}/_fake/scheduling_requests/${id}`);
    expect(((await control.json()) as { state: string }).state).toBe('declined');
  });

  it('refuses lifecycle steps that cannot happen, and unknown requests', async () => {
    const api = apiFor(fake);
    const { scheduling_request_id: id } = await api.createSchedulingRequest({
      recipient,
      source: { kind: 'template', sub: 'sgr_abc' },
    });
    const step = (path: string, body?: unknown) =>
      fetch(`${fake.url}/_fake/scheduling_requests/${path}`, {
        method: 'POST',
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });

    expect((await step(`${id}/rescheduled`)).status).toBe(409);
    expect((await step(`${id}/time_chosen`, { notify: 'yes' })).status).toBe(400);
    expect(
      (await step(`${id}/time_chosen`, { start: '2030-01-01T10:00:00Z', end: '2030-01-01T09:00:00Z' }))
        .status,
    ).toBe(400);
    expect((await step('srq_unknown/time_chosen')).status).toBe(404);
    await api.cancelSchedulingRequest(id);
    expect((await step(`${id}/time_chosen`)).status).toBe(409);
  });
});

describe("the fake's rate limit", () => {
  let fake: CronofyFake | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it('answers 429 beyond 50 in a second and 500 in a minute, and counts them', async () => {
    const clock = new VirtualClock(0);
    fake = await startCronofyFake({ clientSecret: SECRET, apiCredential: CREDENTIAL, now: clock.now });
    const query = () =>
      post(`${fake?.url}/v1/scheduling_requests/query`, { scheduling_request_ids: ['srq_x'] });

    // 60 at once in the same instant: 50 answered, 10 rate limited.
    const burst = await Promise.all(Array.from({ length: 60 }, query));
    expect(burst.filter((response) => response.status === 200)).toHaveLength(50);
    expect(burst.filter((response) => response.status === 429)).toHaveLength(10);
    expect(fake.stats.rateLimited).toBe(10);

    // Nine more seconds of 50 reach the minute's 500; the next second's calls are all refused.
    for (let second = 1; second <= 9; second++) {
      clock.time = second * 1000;
      const statuses = (await Promise.all(Array.from({ length: 50 }, query))).map(
        (response) => response.status,
      );
      expect(statuses.every((status) => status === 200)).toBe(true);
    }
    clock.time = 10_000;
    expect((await query()).status).toBe(429);
    clock.time = 60_000;
    expect((await query()).status).toBe(200);
    expect(fake.stats.rateLimited).toBe(11);

    // A wrong bearer is refused before the limit and does not count against it.
    const unauthorized = await post(`${fake.url}/v1/scheduling_requests/query`, {}, 'wrong');
    expect(unauthorized.status).toBe(401);
  });

  it("keeps the client's calls under the limit: 550 sequential queries, no 429, and without the limiter there are", async () => {
    const clock = new VirtualClock(0, true);
    fake = await startCronofyFake({ clientSecret: SECRET, apiCredential: CREDENTIAL, now: clock.now });
    const limited = apiFor(fake, {
      limiter: new RateLimiter({ now: clock.now, sleep: clock.sleep }),
      now: clock.now,
      sleep: clock.sleep,
      // Long enough to wait out the minute window (a 10 s budget would answer local_rate_limit instead).
      retry: { maxTotalMs: 120_000 },
    });

    for (let i = 0; i < 550; i++) await limited.querySchedulingRequests([`srq_${i}`]);

    expect(fake.stats.queryBatches).toHaveLength(550);
    expect(fake.stats.rateLimited).toBe(0);
    // The 501st call had to wait for the first to leave the minute window.
    expect(clock.time).toBeGreaterThanOrEqual(60_000);

    // Control: the same calls with a limiter far above Cronofy's limits are refused by the fake.
    const unlimited = apiFor(fake, {
      limiter: new RateLimiter({
        now: clock.now,
        sleep: clock.sleep,
        limit: { perSecond: 1000, perMinute: 10_000 },
      }),
      now: clock.now,
      sleep: clock.sleep,
      retry: { maxAttempts: 1 },
    });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) => unlimited.querySchedulingRequests([`srq_${i}`])),
    );
    expect(fake.stats.rateLimited).toBeGreaterThan(0);
    expect(
      outcomes.some(
        (outcome) => outcome.status === 'rejected' && outcome.reason instanceof CronofyUnavailableError,
      ),
    ).toBe(true);
  });
});

describe('Cronofy API client over unreliable networks', () => {
  it('times out on a server that never answers and gives up within the budget', async () => {
    const sockets = new Set<Socket>();
    const silent = createTcpServer((socket) => {
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    try {
      const api = apiFor(
        { url },
        { timeoutMs: 100, retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20 } },
      );
      const started = Date.now();

      const error = (await api.querySchedulingRequests(['srq_1']).catch((e) => e)) as CronofyUnavailableError;

      expect(error).toBeInstanceOf(CronofyUnavailableError);
      expect(error.reason).toBe('timeout');
      expect(error.attempts).toBe(3);
      // Each attempt reached the server (undici may open one more socket when an attempt is aborted mid-connect).
      expect(sockets.size).toBeGreaterThanOrEqual(3);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('retries a refused connection, then reports Cronofy unavailable', async () => {
    const port = await freePort();
    const api = apiFor({ url: `http://127.0.0.1:${port}` }, { retry: { maxAttempts: 2, baseDelayMs: 10 } });

    await expect(api.cancelSchedulingRequest('srq_1')).rejects.toMatchObject({
      name: 'CronofyUnavailableError',
      reason: 'network',
      attempts: 2,
    });
  });
});
