import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { DynamoReconcileStore } from '#shared/aws/reconcile-store.ts';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { SqsNotificationQueue } from '#shared/aws/sqs-queue.ts';
import { keys } from '#shared/contract/records.ts';
import { silentLogger } from '#shared/core/logger.ts';
import { processBatch, type WorkerDeps } from '#shared/notifications/apply.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { reconcileWrite } from '#shared/scheduling/reconcile.ts';
import { makeHandler as makeIngestHandler } from '../../functions/ingest/handler.ts';
import { schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { type LocalAws, readItem, startLocalAws } from '../support/local-aws.ts';
import { queueMessage } from '../support/messages.ts';

/**
 * Attacks found by an adversarial review, against DynamoDB Local and the SQS emulator: bodies the queue would
 * refuse, and fields that would fool the DynamoDB marshaller.
 */

let aws: LocalAws;
let store: DynamoRecordStore;
let counter = 0;
const uniqueId = (prefix: string) => `${prefix}_${process.pid}_${++counter}`;
const deps = (): WorkerDeps => ({
  store,
  clock: () => new Date('2026-11-23T13:00:00.000Z'),
  logger: silentLogger,
  retentionDays: 90,
});

beforeAll(async () => {
  aws = await startLocalAws();
  store = new DynamoRecordStore(aws.ddb, aws.tableName);
});
afterAll(async () => aws?.stop());

const item = (pk: string) => readItem(aws, pk);

const SECRET = 'CRN_attack10';
/** The ingest function as deployed, in front of the SQS emulator. */
async function ingest(body: string) {
  const handler = makeIngestHandler({
    secrets: new StaticSecrets({ clientSecrets: [SECRET], embedPublicKey: 'EMB_x', embedSecret: 'ESK_x' }),
    queue: new SqsNotificationQueue(aws.sqsClient, aws.queues.queueUrl),
    clock: () => new Date('2026-11-23T10:00:00.000Z'),
    logger: silentLogger,
  });
  return handler({
    version: '2.0',
    routeKey: 'POST /cronofy/notifications',
    rawPath: '/cronofy/notifications',
    rawQueryString: '',
    headers: { 'cronofy-hmac-sha256': signBody(Buffer.from(body, 'utf8'), SECRET) },
    requestContext: { http: { method: 'POST', path: '/cronofy/notifications' } },
    body,
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2);
}

describe('ingest: signed, valid JSON bodies the queue refuses', () => {
  it.each([
    ['U+FFFF (a noncharacter: valid UTF-8, refused by real SQS and fauxqs)', '\uffff'],
    ['U+FFFE', '\ufffe'],
    ['an emoji (astral plane; refused by fauxqs only, so local mode)', '😀'],
  ])('a body holding %s is accepted (202), not answered 503 forever', async (_, char) => {
    const body = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: uniqueId('srq_sqs'),
      capturedData: { 'captured_data.notes': `hello ${char}` },
    });
    // Cronofy retries a 503 at most 10 times, then gives up: every attempt gets the same answer.
    const result = await ingest(body);
    expect(result).toMatchObject({ statusCode: 202 });
  });
});

describe('worker: objects with an own `constructor` key fool the marshaller', () => {
  const withAttendeeField = (id: string, json: string) =>
    schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: id,
      triggeredAt: '2026-11-23T12:00:00Z',
    }).replace('"status":"accepted"', `"status":"accepted",${json}`);

  it('{"constructor":{"name":"Uint8Array"}} in an attendee is recorded, not retried until the DLQ', async () => {
    const id = uniqueId('srq_ctor_bin');
    const message = queueMessage(withAttendeeField(id, '"constructor":{"name":"Uint8Array"},"length":1'));
    const attempts: string[][] = [];
    for (let i = 0; i < 3; i++) attempts.push(await processBatch([message], deps()));
    expect(attempts).toEqual([[], [], []]);
    expect((await item(keys.notification(message.key)))?.status).toMatch(/^(applied|unparseable)$/);
  });

  it('{"constructor":{"name":"String"}} in an attendee keeps the attendee, not "[object Object]"', async () => {
    const id = uniqueId('srq_ctor_str');
    const message = queueMessage(withAttendeeField(id, '"constructor":{"name":"String"}'));
    expect(await processBatch([message], deps())).toEqual([]);
    const record = await item(keys.schedulingRequest(id));
    const host = (record?.event as { host?: unknown })?.host;
    expect(host).not.toBe('[object Object]');
    expect(host).toMatchObject({ email: 'host@example.com' });
  });

  it('{"constructor":{"name":"Number"}} in an attendee is applied with the attendee kept', async () => {
    const id = uniqueId('srq_ctor_num');
    const message = queueMessage(withAttendeeField(id, '"constructor":{"name":"Number"}'));
    expect(await processBatch([message], deps())).toEqual([]);
    expect((await item(keys.notification(message.key)))?.status).toBe('applied');
  });
});

describe('reconciliation: a record holding an own `constructor` key', () => {
  it('{"constructor":{"name":"String"}} on the host survives a reconciled change, not as "[object Object]"', async () => {
    const id = uniqueId('srq_ctor_reconcile');
    const body = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: id,
      triggeredAt: '2026-11-23T12:00:00Z',
    }).replace('"status":"accepted"', '"status":"accepted","constructor":{"name":"String"}');
    expect(await processBatch([queueMessage(body)], deps())).toEqual([]);
    const current = await item(keys.schedulingRequest(id));
    // Cronofy shows a new summary, and no participants: the record's host is carried over as it is.
    const answer = {
      scheduling_request_id: id,
      event: {
        start: { time: '2026-12-01T14:00:00Z' },
        end: { time: '2026-12-01T14:30:00Z' },
        summary: 'Moved',
      },
    };
    const at = '2026-11-23T13:00:00.000Z';
    const outcome = await new DynamoReconcileStore(aws.ddb, aws.tableName).reconcile(
      id,
      current,
      (record) => reconcileWrite(answer, record, at, at),
      at,
    );
    expect(outcome).toBe('applied');
    const record = await item(keys.schedulingRequest(id));
    expect(record?.event).toMatchObject({
      summary: 'Moved',
      host: { email: 'host@example.com', constructor: { name: 'String' } },
    });
  });
});

describe('reconciliation: numbers a double or DynamoDB cannot hold, in what Cronofy answers', () => {
  // The API client reads answers with JSON.parse: a 20-digit number has already lost digits, and one DynamoDB
  // cannot hold (1e21 is written `1e+21`, which the SDK refuses; 1e-200 underflows; 1e400 is read as Infinity, which
  // the SDK refuses too) would fail the request's reconciliation on every run.
  for (const value of [1e21, 2 ** 64, 1e-200, -1e130, JSON.parse('1e400'), JSON.parse('-1e400')])
    it(`${value} in the scheduler metadata is recorded as text, and the next run finds nothing new`, async () => {
      const id = uniqueId('srq_api_number');
      const body = schedulingRequestBody('scheduling_request_time_chosen', {
        schedulingRequestId: id,
        triggeredAt: '2026-11-23T12:00:00Z',
      });
      expect(await processBatch([queueMessage(body)], deps())).toEqual([]);
      const answer = {
        scheduling_request_id: id,
        slot_selection: 'complete',
        event: {
          start: { time: '2026-12-05T10:00:00Z' },
          end: { time: '2026-12-05T10:30:00Z' },
          metadata: { scheduler: { score: value } },
        },
      };
      const at = '2026-11-23T13:00:00.000Z';
      const reconcileStore = new DynamoReconcileStore(aws.ddb, aws.tableName);
      const run = async () =>
        reconcileStore.reconcile(
          id,
          await item(keys.schedulingRequest(id)),
          (record) => reconcileWrite(answer, record, at, at),
          at,
        );
      expect(await run()).toBe('applied');
      expect((await item(keys.schedulingRequest(id)))?.metadata).toEqual({ score: String(value) });
      expect(await run()).toBe('unchanged');
    });
});
