import { type AttributeValue, DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { DynamoReconcileStore } from '#shared/aws/reconcile-store.ts';
import { DynamoSchedulingStore } from '#shared/aws/scheduling-store.ts';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { silentLogger } from '#shared/core/logger.ts';
import type { CronofyApi } from '#shared/cronofy/api.ts';
import { cronofyClient } from '#shared/cronofy/from-env.ts';
import { CRONOFY_RATE_LIMIT } from '#shared/cronofy/rate-limiter.ts';
import { processBatch } from '#shared/notifications/apply.ts';
import { reconcile } from '#shared/scheduling/reconcile.ts';
import { type CronofyFake, startCronofyFake } from '../../infra/local/cronofy-fake.ts';
import { schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { type LocalAws, readSchedulingRecord, startLocalAws } from '../support/local-aws.ts';
import { queueMessage } from '../support/messages.ts';

/**
 * Reconciliation against the Cronofy fake over HTTP and DynamoDB Local: what it applies and never invents, two
 * runs at once, Cronofy down for a whole run (nothing lost, nothing changed; the next run converges), and a run
 * over 2,000 open requests under the fake's rate limit.
 */

const SECRET = 'CRN_integration_reconcile_secret';

let aws: LocalAws;
/** The fake's clock runs `skew` ms ahead: creating thousands of requests in "minutes" that pass at once. */
let skew = 0;
let fake: CronofyFake;

beforeAll(async () => {
  [aws, fake] = await Promise.all([
    startLocalAws(`reconcile-${process.pid}`),
    startCronofyFake({ clientSecret: SECRET, now: () => Date.now() + skew }),
  ]);
});
afterAll(async () => {
  await Promise.all([aws?.stop(), fake?.close()]);
});

function api(url = fake.url, rateLimit = CRONOFY_RATE_LIMIT): CronofyApi {
  return cronofyClient({
    dataCenter: 'us',
    apiUrl: url,
    rateLimit,
    secrets: new StaticSecrets({ clientSecrets: [SECRET], embedPublicKey: 'EMB_x', embedSecret: 'ESK_x' }),
    logger: silentLogger,
  });
}

const deps = (cronofy = api()) => ({
  api: cronofy,
  store: new DynamoReconcileStore(aws.ddb, aws.tableName),
  clock: () => new Date(),
  logger: silentLogger,
});

/** Requests created in the fake and recorded pending, as POST /scheduling-requests does. */
async function createPending(count: number): Promise<string[]> {
  // The fake's clock keeps it under its limits; this client's own limiter runs on real time, so it is lifted.
  const client = api(fake.url, { perSecond: 1_000_000, perMinute: 1_000_000 });
  const store = new DynamoSchedulingStore(aws.ddb, aws.tableName);
  const ids: string[] = [];
  for (let i = 0; i < count; i += 45) {
    // Never more than the fake's 50 per second / 500 per minute: a "minute" passes between groups.
    skew += 61_000;
    const group = await Promise.all(
      Array.from({ length: Math.min(45, count - i) }, () =>
        client.createSchedulingRequest({
          recipient: { email: 'c@example.com', displayName: 'C' },
          source: { kind: 'template', sub: 'sgr_reconcile' },
        }),
      ),
    );
    await Promise.all(
      group.map((created) =>
        store.recordCreated(
          {
            scheduling_request_id: created.scheduling_request_id,
            select_url: created.primary_select_url ?? '',
            metadata: {},
            created_at: new Date().toISOString(),
          },
          new Date().toISOString(),
        ),
      ),
    );
    ids.push(...group.map((created) => created.scheduling_request_id));
  }
  skew += 61_000;
  return ids;
}

async function act(id: string, action: 'time_chosen' | 'rescheduled' | 'declined', body: object = {}) {
  const response = await fetch(`${fake.url}/_fake/scheduling_requests/${id}/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ notify: false, ...body }),
  });
  expect(response.status).toBe(200);
}

const record = (id: string) => readSchedulingRecord(aws, id);

async function snapshot(ids: readonly string[]) {
  return Promise.all(ids.map((id) => record(id)));
}

describe('reconcile', () => {
  it('applies what Cronofy shows, infers only a booking, and changes nothing the second time', async () => {
    const [booked, moved, untouched, declined] = await createPending(4);
    await act(booked as string, 'time_chosen', {
      start: '2030-01-02T10:00:00Z',
      end: '2030-01-02T10:30:00Z',
    });
    await act(moved as string, 'time_chosen', { start: '2030-01-03T10:00:00Z', end: '2030-01-03T10:30:00Z' });
    // Booked, then declined, both notifications lost.
    await act(declined as string, 'time_chosen');
    await act(declined as string, 'declined');
    // `moved` got its time_chosen notification; its reschedule was never notified.
    const failures = await processBatch(
      [
        queueMessage(
          schedulingRequestBody('scheduling_request_time_chosen', {
            schedulingRequestId: moved,
            triggeredAt: '2026-11-23T10:00:00Z',
            start: '2030-01-03T10:00:00Z',
            end: '2030-01-03T10:30:00Z',
          }),
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
    await act(moved as string, 'rescheduled', { start: '2030-01-05T09:00:00Z', end: '2030-01-05T09:45:00Z' });

    const ids = [booked, moved, untouched, declined] as string[];
    const report = await reconcile({ ids, maxCalls: 10 }, deps());
    expect(report.calls).toBe(1);
    expect(report.checked).toBe(4);
    expect(report.failed).toEqual([]);
    expect(report.changed.sort()).toEqual([booked, moved, declined].sort());

    expect(await record(booked as string)).toMatchObject({
      status: 'time_chosen',
      event: { start: { time: '2030-01-02T10:00:00Z' }, end: { time: '2030-01-02T10:30:00Z' } },
      open_until: '2030-01-02T10:30:00.000Z',
      reconciled_at: expect.any(String),
    });
    // A reschedule the answer cannot tell from a first choice: times follow, status stays.
    expect(await record(moved as string)).toMatchObject({
      status: 'time_chosen',
      event: { start: { time: '2030-01-05T09:00:00Z' }, end: { time: '2030-01-05T09:45:00Z' } },
    });
    expect((await record(untouched as string))?.status).toBe('pending');
    // Nothing new: nothing written, not even reconciled_at.
    expect(await record(untouched as string)).not.toHaveProperty('reconciled_at');
    // Declined is not a status the answer shows: never invented. The attendee's status is.
    const declinedRecord = await record(declined as string);
    expect(declinedRecord?.status).toBe('pending');
    expect(declinedRecord?.event).toMatchObject({
      attendees: [expect.objectContaining({ status: 'declined' })],
    });

    const before = await snapshot(ids);
    const again = await reconcile({ ids, maxCalls: 10 }, deps());
    expect(again.changed).toEqual([]);
    expect(again.unchanged).toBe(4);
    const after = await snapshot(ids);
    // Nothing at all was written (nothing on the stream): not even reconciled_at or the revision.
    expect(after).toEqual(before);
  });

  it('a notification triggered after the read still applies over what reconciliation wrote', async () => {
    const [id] = (await createPending(1)) as [string];
    await act(id, 'time_chosen', { start: '2030-02-01T10:00:00Z', end: '2030-02-01T10:30:00Z' });
    await reconcile({ ids: [id], maxCalls: 1 }, deps());
    const failures = await processBatch(
      [
        queueMessage(
          schedulingRequestBody('scheduling_request_declined', {
            schedulingRequestId: id,
            triggeredAt: new Date(Date.now() + 5_000).toISOString(),
          }),
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
    const item = await record(id);
    expect(item?.status).toBe('declined');
    expect(item).not.toHaveProperty('open_bucket');
  });

  it('steps triggered before the read but delivered after it still reach the status (an outage Cronofy retried past)', async () => {
    const [id] = (await createPending(1)) as [string];
    const beforeRead = (offset: number) => new Date(Date.now() - offset).toISOString();
    await act(id, 'time_chosen', { start: '2030-03-01T10:00:00Z', end: '2030-03-01T10:30:00Z' });
    await act(id, 'declined');
    const report = await reconcile({ ids: [id], maxCalls: 1 }, deps());
    expect(report.changed).toEqual([id]);
    expect((await record(id))?.status).toBe('pending'); // a decline is never invented

    const worker = {
      store: new DynamoRecordStore(aws.ddb, aws.tableName),
      clock: () => new Date(),
      logger: silentLogger,
      retentionDays: 1,
    };
    const chosen = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: id,
      triggeredAt: beforeRead(60_000),
      start: '2030-03-01T10:00:00Z',
      end: '2030-03-01T10:30:00Z',
    });
    const declined = schedulingRequestBody('scheduling_request_declined', {
      schedulingRequestId: id,
      triggeredAt: beforeRead(30_000),
    });
    expect(await processBatch([queueMessage(chosen)], worker)).toEqual([]);
    expect((await record(id))?.status).toBe('time_chosen');
    expect(await processBatch([queueMessage(declined), queueMessage(chosen)], worker)).toEqual([]);
    const item = await record(id);
    expect(item).toMatchObject({ status: 'declined', last_notification_type: 'scheduling_request_declined' });
    expect(item).not.toHaveProperty('open_bucket');

    // A notification after the read applies whole (the adapter's single conditional update) and ends the mark.
    const moved = schedulingRequestBody('scheduling_request_rescheduled', {
      schedulingRequestId: id,
      triggeredAt: new Date(Date.now() + 5_000).toISOString(),
      start: '2030-03-02T10:00:00Z',
      end: '2030-03-02T10:30:00Z',
    });
    // Received now: a triggered_at more than a day after its receipt would be ordered by the receipt.
    expect(await processBatch([queueMessage(moved, { receivedAt: new Date() })], worker)).toEqual([]);
    const after = await record(id);
    expect(after).toMatchObject({
      status: 'rescheduled',
      event: { start: { time: '2030-03-02T10:00:00Z' } },
    });
    expect(after).not.toHaveProperty('status_as_of');
  });

  it('two runs at once converge to one result, each change made once', async () => {
    const ids = await createPending(20);
    for (const id of ids.slice(0, 10)) await act(id, 'time_chosen');
    const [a, b] = await Promise.all([
      reconcile({ ids, maxCalls: 5 }, deps()),
      reconcile({ ids, maxCalls: 5 }, deps()),
    ]);
    expect(a.failed).toEqual([]);
    expect(b.failed).toEqual([]);
    expect(a.changed.length + b.changed.length).toBe(10);
    for (const id of ids.slice(0, 10)) expect((await record(id))?.status).toBe('time_chosen');
    for (const id of ids.slice(10)) expect((await record(id))?.status).toBe('pending');
  });

  it('with Cronofy down for the whole run loses nothing and changes nothing; the next run converges', async () => {
    const ids = await createPending(6);
    for (const id of ids.slice(0, 3)) await act(id, 'time_chosen');
    const before = await snapshot(ids);
    // Nothing listens there: every attempt fails (connection refused), within the client's retry budget.
    const down = await reconcile({ ids, maxCalls: 10, batchSize: 2 }, deps(api('http://127.0.0.1:9')));
    expect(down.error).toMatch(/CronofyUnavailableError/);
    expect(down.calls).toBe(1);
    expect(down.changed).toEqual([]);
    expect(down.failed).toEqual(ids.slice(0, 2));
    expect(down.remaining).toBe(4);
    expect(await snapshot(ids)).toEqual(before);

    const next = await reconcile({ ids, maxCalls: 10, batchSize: 2 }, deps());
    expect(next.error).toBeUndefined();
    expect(next.changed.sort()).toEqual(ids.slice(0, 3).sort());
  }, 90_000);

  it('never brings back a record deleted (a tenant purge) between its read and its write', async () => {
    const [id] = (await createPending(1)) as [string];
    await act(id, 'time_chosen', { start: '2030-03-01T10:00:00Z', end: '2030-03-01T10:30:00Z' });
    const store = new DynamoReconcileStore(aws.ddb, aws.tableName);
    // The purge lands after the run read the record and Cronofy answered, just before the write.
    const purging: typeof store = Object.assign(Object.create(store), {
      reconcile: async (...args: Parameters<typeof store.reconcile>) => {
        await aws.ddb.send(
          new DeleteItemCommand({
            TableName: aws.tableName,
            Key: { pk: { S: `scheduling_request#${id}` } },
          }),
        );
        return store.reconcile(...args);
      },
    });
    const report = await reconcile({ ids: [id], maxCalls: 1 }, { ...deps(), store: purging });
    expect(report.failed).toEqual([]);
    expect(report.changed).toEqual([]);
    // Not recreated from Cronofy's answer (without the tenant_id a purge deletes by): the purge stays done.
    expect(await record(id)).toBeUndefined();
  });

  it('a dry run reports what it would change and writes nothing', async () => {
    const ids = await createPending(2);
    await act(ids[0] as string, 'time_chosen');
    const before = await snapshot(ids);
    const report = await reconcile({ ids, maxCalls: 1, dryRun: true }, deps());
    expect(report.changed).toEqual([ids[0]]);
    expect(await snapshot(ids)).toEqual(before);
  });

  it('finds open requests through the index, takes ended ones out of it, and caps Cronofy calls per run', async () => {
    const ids = await createPending(3);
    await act(ids[0] as string, 'time_chosen', {
      start: '2001-01-01T10:00:00Z',
      end: '2001-01-01T10:30:00Z',
    });
    await reconcile({ ids: [ids[0] as string], maxCalls: 1 }, deps());
    const open = await record(ids[0] as string);
    expect(open?.open_until).toBe('2001-01-01T10:30:00.000Z');

    const capped = await reconcile({ allOpen: true, maxCalls: 1, batchSize: 1 }, deps());
    expect(capped.calls).toBe(1);
    expect(capped.remaining).toBeGreaterThan(0);
    expect(capped.closed).toContain(ids[0]);
    expect(await record(ids[0] as string)).not.toHaveProperty('open_bucket');
    expect((await record(ids[0] as string))?.status).toBe('time_chosen');
    // Index upkeep moves the revision: a writer holding the open record cannot put it back in the index.
    expect((await record(ids[0] as string))?.revision).toBe((open?.revision as number) + 1);
  });
});

describe('reconcile at scale', () => {
  it('reconciles 2,000 open requests within the fake’s rate limit (no 429) and reports its duration', async () => {
    // Start from an index holding just these: close every request the other tests left open (every page).
    const store = new DynamoSchedulingStore(aws.ddb, aws.tableName);
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await aws.ddb.send(
        new ScanCommand({
          TableName: aws.tableName,
          ProjectionExpression: 'scheduling_request_id',
          FilterExpression: 'attribute_exists(open_bucket)',
          ExclusiveStartKey: start,
        }),
      );
      // Timed well ahead: other tests send notifications triggered up to 5 s from now, which a cancel timed
      // now would not undo (it would be stale and the request stay open).
      for (const item of page.Items ?? [])
        await store.recordCancelled(
          String(item.scheduling_request_id?.S),
          new Date(Date.now() + 3_600_000).toISOString(),
        );
      start = page.LastEvaluatedKey;
    } while (start);
    const ids = await createPending(2000);
    for (const id of ids.slice(0, 100)) await act(id, 'time_chosen');
    const limited = fake.stats.rateLimited;
    const calls = fake.stats.requests;

    const started = Date.now();
    const report = await reconcile({ allOpen: true, maxCalls: 100 }, deps());
    const seconds = (Date.now() - started) / 1000;
    console.info(
      `reconciled ${report.checked} open requests in ${seconds.toFixed(1)} s, ${report.calls} Cronofy calls`,
    );

    expect(report.checked).toBe(2000);
    expect(report.calls).toBe(40);
    expect(fake.stats.requests - calls).toBe(40);
    expect(fake.stats.rateLimited - limited).toBe(0);
    expect(report.changed).toHaveLength(100);
    expect(report.failed).toEqual([]);
    expect(report.remaining).toBe(0);
  }, 300_000);
});
