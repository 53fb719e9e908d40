import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { DynamoSchedulingStore } from '#shared/aws/scheduling-store.ts';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { silentLogger } from '#shared/core/logger.ts';
import { cronofyClient } from '#shared/cronofy/from-env.ts';
import { CRONOFY_RATE_LIMIT } from '#shared/cronofy/rate-limiter.ts';
import { processBatch } from '#shared/notifications/apply.ts';
import { makeHandler } from '../../functions/scheduling-requests/handler.ts';
import { type CronofyFake, startCronofyFake } from '../../infra/local/cronofy-fake.ts';
import { schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { type LocalAws, readSchedulingRecord, startLocalAws } from '../support/local-aws.ts';
import { queueMessage } from '../support/messages.ts';

/**
 * The scheduling-request routes over real HTTP to the Cronofy fake and real DynamoDB Local: records, ordering
 * against notifications, cancel, and the Idempotency-Key guarantees (one request in Cronofy for concurrent
 * creates, recovery of a crash after Cronofy answered).
 */

const SECRET = 'CRN_integration_scheduling_secret';
const CALLER = 'arn:aws:sts::123456789012:assumed-role/ats/session';
const BODY = {
  recipient: { email: 'candidate@example.com', display_name: 'Ada Candidate' },
  template_sub: 'sgr_integration',
  correlation_id: 'CAND-7',
};

let aws: LocalAws;
let fake: CronofyFake;

beforeAll(async () => {
  [aws, fake] = await Promise.all([
    startLocalAws(`scheduling-${process.pid}`),
    startCronofyFake({ clientSecret: SECRET, rateLimit: false }),
  ]);
});
afterAll(async () => {
  await Promise.all([aws?.stop(), fake?.close()]);
});

function handlerWith(options: { afterCreatedSaved?: () => void; credential?: string } = {}) {
  const store = new DynamoSchedulingStore(aws.ddb, aws.tableName);
  const secrets = new StaticSecrets({
    clientSecrets: [SECRET],
    embedPublicKey: 'EMB_x',
    embedSecret: 'ESK_x',
    ...(options.credential ? { apiCredential: options.credential } : {}),
  });
  return makeHandler({
    api: cronofyClient({
      dataCenter: 'us',
      apiUrl: fake.url,
      rateLimit: CRONOFY_RATE_LIMIT,
      secrets,
      logger: silentLogger,
    }),
    store,
    idempotency: store,
    clock: () => new Date(),
    logger: silentLogger,
    requireIamAuthorizer: true,
    ...(options.afterCreatedSaved ? { afterCreatedSaved: options.afterCreatedSaved } : {}),
  });
}

function request(path: string, body?: unknown, headers: Record<string, string> = {}): APIGatewayProxyEventV2 {
  const cancel = /^\/scheduling-requests\/([^/]+)\/cancel$/.exec(path);
  return {
    version: '2.0',
    routeKey: cancel ? 'POST /scheduling-requests/{id}/cancel' : 'POST /scheduling-requests',
    rawPath: path,
    rawQueryString: '',
    headers,
    ...(cancel ? { pathParameters: { id: cancel[1] } } : {}),
    requestContext: { http: { method: 'POST', path }, authorizer: { iam: { userArn: CALLER } } },
    body: body === undefined ? undefined : JSON.stringify(body),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

const record = (id: string) => readSchedulingRecord(aws, id);

async function notify(id: string, type: Parameters<typeof schedulingRequestBody>[0], triggeredAt: string) {
  const failures = await processBatch(
    [
      queueMessage(
        schedulingRequestBody(type, { schedulingRequestId: id, triggeredAt, correlationId: 'CAND-7' }),
      ),
    ],
    {
      store: new DynamoRecordStore(aws.ddb, aws.tableName),
      clock: () => new Date(),
      logger: silentLogger,
      retentionDays: 1,
    },
  );
  expect(failures).toEqual([]);
}

describe('create', () => {
  it('creates in Cronofy and records pending with no lifecycle time, in the index of open requests', async () => {
    const result = await handlerWith()(request('/scheduling-requests', BODY));
    expect(result.statusCode).toBe(201);
    const answer = JSON.parse(String(result.body));
    const created = fake.get(answer.scheduling_request_id);
    expect(created).toBeDefined();
    expect(answer.url).toBe(`${created?.primary_select_url}?correlation_id=CAND-7`);
    const item = await record(answer.scheduling_request_id);
    expect(item).toMatchObject({
      entity: 'scheduling_request',
      status: 'pending',
      created_via: 'api',
      select_url: created?.primary_select_url,
      dashboard_url: created?.dashboard_url,
      metadata: { correlation_id: 'CAND-7' },
      correlation_id: 'CAND-7',
      open_bucket: 'open',
      open_until: '9999-12-31T23:59:59.999Z',
    });
    for (const attribute of ['triggered_at', 'lifecycle_as_of', 'lifecycle_applied'])
      expect(item).not.toHaveProperty(attribute);
  });

  it('never makes a later notification stale, even one triggered (by a skewed clock) before the record', async () => {
    const result = await handlerWith()(request('/scheduling-requests', BODY));
    const id = JSON.parse(String(result.body)).scheduling_request_id;
    await notify(id, 'scheduling_request_time_chosen', '2000-01-01T00:00:00Z');
    expect(await record(id)).toMatchObject({
      status: 'time_chosen',
      triggered_at: '2000-01-01T00:00:00.000Z',
      created_via: 'api',
      open_until: '2026-12-01T14:30:00.000Z',
    });
  });

  it('adds what only the API knows to a record a notification wrote first, without touching its status', async () => {
    const first = JSON.parse(String((await handlerWith()(request('/scheduling-requests', BODY))).body));
    // Simulate the notification winning the race: a second request's record written by the worker first.
    const store = new DynamoSchedulingStore(aws.ddb, aws.tableName);
    await notify('srq_notified_first', 'scheduling_request_time_chosen', '2026-11-23T10:00:00Z');
    const recordedAt = new Date(Date.now() + 60_000).toISOString();
    await store.recordCreated(
      {
        scheduling_request_id: 'srq_notified_first',
        select_url: first.url,
        metadata: { correlation_id: 'OTHER' },
        created_at: new Date().toISOString(),
      },
      recordedAt,
    );
    const item = await record('srq_notified_first');
    expect(item).toMatchObject({ status: 'time_chosen', created_via: 'api', select_url: first.url });
    // The change is written now: its event's occurred_at (the record's updated_at) says so.
    expect(item?.updated_at).toBe(recordedAt);
    // Cronofy's metadata (from the notification) stays.
    expect(item?.correlation_id).toBe('CAND-7');
  });

  it('recording the same creation again (a replayed Idempotency-Key, a recovery) writes nothing', async () => {
    const store = new DynamoSchedulingStore(aws.ddb, aws.tableName);
    const created = {
      scheduling_request_id: 'srq_recorded_twice',
      select_url: 'https://app.cronofy.com/rts/x',
      dashboard_url: 'https://app.cronofy.com/scheduling/requests/x',
      metadata: { correlation_id: 'CAND-9' },
      tenant_id: 'acme',
      created_at: new Date().toISOString(),
    };
    await store.recordCreated(created, new Date().toISOString());
    const first = await record('srq_recorded_twice');
    await store.recordCreated(created, new Date().toISOString());
    // No write at all: the revision would otherwise put a change of nothing on the table's stream.
    expect(await record('srq_recorded_twice')).toEqual(first);
    // After a notification, the API's fields go on once; recording them again changes nothing.
    await notify('srq_recorded_twice', 'scheduling_request_time_chosen', '2026-11-23T10:00:00Z');
    const notified = await record('srq_recorded_twice');
    await store.recordCreated(created, new Date().toISOString());
    expect(await record('srq_recorded_twice')).toEqual(notified);
  });

  it('answers 502 when Cronofy rejects the credential, and creates nothing', async () => {
    const before = fake.stats.created;
    const result = await handlerWith({ credential: 'CRN_wrong' })(request('/scheduling-requests', BODY));
    expect(result.statusCode).toBe(502);
    expect(JSON.parse(String(result.body)).error).toBe('cronofy_credential_rejected');
    expect(fake.stats.created).toBe(before);
  });
});

describe('Idempotency-Key', () => {
  it('two concurrent creates with one key create one request in Cronofy and get the same answer', async () => {
    const handler = handlerWith();
    const before = fake.stats.created;
    const headers = { 'idempotency-key': `concurrent-${Date.now()}` };
    const answers = await Promise.all([
      handler(request('/scheduling-requests', BODY, headers)),
      handler(request('/scheduling-requests', BODY, headers)),
      handlerWith()(request('/scheduling-requests', BODY, headers)),
    ]);
    expect(answers.map((a) => a.statusCode)).toEqual([201, 201, 201]);
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(fake.stats.created - before).toBe(1);
    const again = await handler(request('/scheduling-requests', BODY, headers));
    expect(again.body).toBe(answers[0]?.body);
    expect(fake.stats.created - before).toBe(1);
  });

  it('recovers a crash after Cronofy answered and before the record was written, creating nothing more', async () => {
    const before = fake.stats.created;
    const headers = { 'idempotency-key': `crash-${Date.now()}` };
    const crashed = await handlerWith({
      afterCreatedSaved: () => {
        throw new Error('injected crash');
      },
    })(request('/scheduling-requests', BODY, headers));
    expect(crashed.statusCode).toBeGreaterThanOrEqual(500);
    expect(fake.stats.created - before).toBe(1);

    const retried = await handlerWith()(request('/scheduling-requests', BODY, headers));
    expect(retried.statusCode).toBe(201);
    const id = JSON.parse(String(retried.body)).scheduling_request_id;
    expect(fake.get(id)).toBeDefined();
    expect(await record(id)).toMatchObject({ status: 'pending', created_via: 'api' });
    expect(fake.stats.created - before).toBe(1);
  });
});

describe('cancel', () => {
  it('cancels in Cronofy and records cancelled, out of the index; an older notification is then stale', async () => {
    const id = JSON.parse(
      String((await handlerWith()(request('/scheduling-requests', BODY))).body),
    ).scheduling_request_id;
    const result = await handlerWith()(request(`/scheduling-requests/${id}/cancel`));
    expect(result.statusCode).toBe(200);
    expect(fake.stats.cancelled).toBeGreaterThan(0);
    const item = await record(id);
    expect(item).toMatchObject({ status: 'cancelled', lifecycle_as_of: item?.cancelled_at });
    expect(item).not.toHaveProperty('open_bucket');
    // Triggered before the cancel, delivered after it: it cannot undo the cancel.
    await notify(id, 'scheduling_request_time_chosen', new Date(Date.now() - 60_000).toISOString());
    expect((await record(id))?.status).toBe('cancelled');
  });

  it('a notification without triggered_at received after the cancel leaves it cancelled, out of the index', async () => {
    const id = JSON.parse(
      String((await handlerWith()(request('/scheduling-requests', BODY))).body),
    ).scheduling_request_id;
    await notify(id, 'scheduling_request_time_chosen', '2026-11-23T10:00:00Z');
    expect(await handlerWith()(request(`/scheduling-requests/${id}/cancel`))).toMatchObject({
      statusCode: 200,
    });
    const cancelled = await record(id);
    // Received after the cancel (its receipt time is later): a receipt time must not outrank a recorded cancel.
    const late = queueMessage(
      schedulingRequestBody('scheduling_request_more_times_requested', { schedulingRequestId: id }),
      { receivedAt: new Date(Date.now() + 60_000) },
    );
    const deps = {
      store: new DynamoRecordStore(aws.ddb, aws.tableName),
      clock: () => new Date(),
      logger: silentLogger,
      retentionDays: 1,
    };
    expect(await processBatch([late], deps)).toEqual([]);
    expect(await record(id)).toEqual(cancelled);
    expect(cancelled).toMatchObject({ status: 'cancelled' });
    expect(cancelled).not.toHaveProperty('open_until');
    expect(cancelled).not.toHaveProperty('last_notification_type');
  });

  it('a retried create that finds its record complete writes nothing', async () => {
    const store = new DynamoSchedulingStore(aws.ddb, aws.tableName);
    const id = `srq_retry_${Date.now()}`;
    const created = {
      scheduling_request_id: id,
      select_url: 'https://app.cronofy.com/rts/x',
      dashboard_url: 'https://app.cronofy.com/scheduling/requests/x',
      metadata: { correlation_id: 'CAND-7' },
      created_at: '2026-11-23T12:00:00.000Z',
    };
    await store.recordCreated(created, '2026-11-23T12:00:00.000Z');
    const before = await record(id);
    await store.recordCreated(created, '2026-11-23T12:00:01.000Z');
    expect(await record(id)).toEqual(before);
  });

  it('a repeated cancel answers the first cancel and changes nothing', async () => {
    const id = JSON.parse(
      String((await handlerWith()(request('/scheduling-requests', BODY))).body),
    ).scheduling_request_id;
    const first = JSON.parse(
      String((await handlerWith()(request(`/scheduling-requests/${id}/cancel`))).body),
    );
    const before = await record(id);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const again = await handlerWith()(request(`/scheduling-requests/${id}/cancel`));
    expect(again.statusCode).toBe(200);
    expect(JSON.parse(String(again.body))).toEqual(first);
    expect(first.cancelled_at).toBe(before?.cancelled_at);
    expect(await record(id)).toEqual(before);
  });

  it('two cancels at once (a caller retrying while its first call runs) record one, and both answer its time', async () => {
    for (let run = 0; run < 5; run++) {
      const id = JSON.parse(
        String((await handlerWith()(request('/scheduling-requests', BODY))).body),
      ).scheduling_request_id;
      const store = new DynamoSchedulingStore(aws.ddb, aws.tableName);
      const answers = await Promise.all([
        store.recordCancelled(id, '2026-11-23T12:00:00.001Z'),
        store.recordCancelled(id, '2026-11-23T12:00:00.002Z'),
      ]);
      const item = await record(id);
      expect(answers).toEqual([item?.cancelled_at, item?.cancelled_at]);
      expect(item).toMatchObject({ status: 'cancelled', revision: 2 });
    }
  });

  it('answers 404 for an id Cronofy does not know', async () => {
    const result = await handlerWith()(request('/scheduling-requests/srq_nobody/cancel'));
    expect(result.statusCode).toBe(404);
    expect(await record('srq_nobody')).toBeUndefined();
  });
});
