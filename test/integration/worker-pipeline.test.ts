import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { withContractBody } from '#shared/contract/body-codec.ts';
import { NOTIFICATION_BODY_MAX_BYTES } from '#shared/contract/limits.ts';
import { appliedKey } from '#shared/contract/ordering.ts';
import type { NotificationRecord } from '#shared/contract/records.ts';
import { keys, parseStreamImage } from '#shared/contract/records.ts';
import { silentLogger } from '#shared/core/logger.ts';
import type { RecordStore } from '#shared/core/ports.ts';
import { processBatch, type WorkerDeps } from '#shared/notifications/apply.ts';
import { encodeEnvelope, idempotencyKey } from '#shared/notifications/envelope.ts';
import { dynamoClient } from '../../infra/local/services.ts';
import { conferencingBody, eventTriggerBody, schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';
import { readStream, recordsFor } from '../support/stream-reader.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

/**
 * The worker's exactly-once guarantee with the real AWS SDK against DynamoDB Local and the SQS emulator.
 * Effects are counted on the table's stream, which is what downstream systems see.
 */

let aws: LocalAws;
let proxy: TcpProxy;
let deps: WorkerDeps;
let counter = 0;

beforeAll(async () => {
  aws = await startLocalAws();
  proxy = await new TcpProxy(aws.dynamo.port).start();
  // The worker talks to DynamoDB through a proxy the tests can cut.
  deps = {
    store: new DynamoRecordStore(dynamoClient(proxy.endpoint), aws.tableName),
    clock: () => new Date(),
    logger: silentLogger,
    retentionDays: 90,
  };
});

afterAll(async () => {
  await proxy?.stop();
  await aws?.stop();
});

const uniqueId = (prefix: string) => `${prefix}_${process.pid}_${++counter}`;

async function enqueue(body: string, notificationId?: string): Promise<string> {
  const key = idempotencyKey(Buffer.from(body));
  await aws.sqsClient.send(
    new SendMessageCommand({
      QueueUrl: aws.queues.queueUrl,
      MessageBody: encodeEnvelope({
        body: Buffer.from(body),
        receivedAt: new Date(),
        headerId: notificationId,
      }),
    }),
  );
  return key;
}

async function receive(visibilitySeconds: number, max = 10): Promise<Message[]> {
  const result = await aws.sqsClient.send(
    new ReceiveMessageCommand({
      QueueUrl: aws.queues.queueUrl,
      MaxNumberOfMessages: max,
      VisibilityTimeout: visibilitySeconds,
      WaitTimeSeconds: 1,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    }),
  );
  return result.Messages ?? [];
}

/** One worker invocation as the event source mapping runs it: process, then delete what succeeded. */
async function invoke(messages: Message[], workerDeps: WorkerDeps = deps): Promise<string[]> {
  const failed = await processBatch(
    messages.map((m) => ({ messageId: m.MessageId ?? '', body: m.Body ?? '' })),
    workerDeps,
  );
  for (const message of messages) {
    if (!failed.includes(message.MessageId ?? '')) {
      await aws.sqsClient.send(
        new DeleteMessageCommand({ QueueUrl: aws.queues.queueUrl, ReceiptHandle: message.ReceiptHandle }),
      );
    }
  }
  return failed;
}

async function item(pk: string): Promise<Record<string, unknown> | undefined> {
  const result = await aws.ddb.send(
    new GetItemCommand({ TableName: aws.tableName, Key: { pk: { S: pk } }, ConsistentRead: true }),
  );
  return result.Item ? withContractBody(unmarshall(result.Item)) : undefined;
}

async function streamOf(pk: string) {
  return recordsFor(await readStream(aws.dynamo.endpoint, aws.streamArn), pk);
}

describe('worker against DynamoDB Local and the SQS emulator', () => {
  it('20 concurrent deliveries of one notification give exactly one effect', async () => {
    const id = uniqueId('srq');
    const body = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: id,
      correlationId: 'CAND-66',
    });
    let key = '';
    for (let i = 0; i < 20; i++) key = await enqueue(body);
    const messages: Message[] = [];
    while (messages.length < 20) messages.push(...(await receive(60)));

    // 20 concurrent invocations, one message each.
    const failures = await Promise.all(messages.map((message) => invoke([message])));
    expect(failures.flat()).toEqual([]);

    const srStream = await streamOf(keys.schedulingRequest(id));
    expect(srStream.map((r) => r.eventName)).toEqual(['INSERT']);
    expect((await streamOf(keys.notification(key))).map((r) => r.eventName)).toEqual(['INSERT']);
    const record = parseStreamImage(srStream[0]?.dynamodb?.NewImage ?? {});
    expect(record).toMatchObject({
      entity: 'scheduling_request',
      status: 'time_chosen',
      correlation_id: 'CAND-66',
      lifecycle_applied: [appliedKey(key)],
    });
  });

  it('a crash after applying the state, before recording the notification, loses nothing and applies once', async () => {
    const id = uniqueId('srq');
    const key = await enqueue(
      schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: id }),
    );
    const crashing: RecordStore = {
      applyState: (write) => deps.store.applyState(write),
      putEventTrigger: (pk, record) => deps.store.putEventTrigger(pk, record),
      putNotifications: async (records) => records.map(() => new Error('worker killed')),
      notificationStatuses: (ids) => deps.store.notificationStatuses(ids),
    };
    const first = await receive(1);
    expect(await invoke(first, { ...deps, store: crashing })).toEqual([first[0]?.MessageId]);
    expect((await item(keys.schedulingRequest(id)))?.status).toBe('time_chosen');
    expect(await item(keys.notification(key))).toBeUndefined();

    // Visibility timeout expires; SQS delivers the message again.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = await receive(30);
    expect(second[0]?.Attributes?.ApproximateReceiveCount).toBe('2');
    expect(await invoke(second)).toEqual([]);

    expect((await streamOf(keys.schedulingRequest(id))).map((r) => r.eventName)).toEqual(['INSERT']);
    expect((await item(keys.notification(key)))?.status).toBe('applied');
  });

  it('a message received and never processed (worker died) comes back and applies once', async () => {
    const id = uniqueId('srq');
    const key = await enqueue(
      schedulingRequestBody('scheduling_request_declined', { schedulingRequestId: id }),
    );
    expect(await receive(1)).toHaveLength(1); // received, then the worker disappears
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await invoke(await receive(30))).toEqual([]);
    expect((await item(keys.schedulingRequest(id)))?.status).toBe('declined');
    expect((await item(keys.notification(key)))?.status).toBe('applied');
  });

  it('out-of-order delivery keeps the newer state and records the older notification as stale', async () => {
    const id = uniqueId('srq');
    const newerKey = await enqueue(
      schedulingRequestBody('scheduling_request_rescheduled', {
        schedulingRequestId: id,
        triggeredAt: '2026-11-23T10:05:00Z',
        start: '2026-12-03T09:00:00Z',
      }),
    );
    expect(await invoke(await receive(30))).toEqual([]);
    const olderKey = await enqueue(
      schedulingRequestBody('scheduling_request_time_chosen', {
        schedulingRequestId: id,
        triggeredAt: '2026-11-23T10:00:00Z',
      }),
    );
    expect(await invoke(await receive(30))).toEqual([]);

    const state = await item(keys.schedulingRequest(id));
    expect(state).toMatchObject({
      status: 'rescheduled',
      triggered_at: '2026-11-23T10:05:00.000Z',
      lifecycle_applied: [appliedKey(newerKey)],
    });
    expect((state?.event as { start: { time: string } } | undefined)?.start.time).toBe(
      '2026-12-03T09:00:00Z',
    );
    expect((await item(keys.notification(olderKey)))?.status).toBe('stale');
    expect((await streamOf(keys.schedulingRequest(id))).map((r) => r.eventName)).toEqual(['INSERT']);
  });

  it('a transient DynamoDB outage ends in a retried, applied message, not the DLQ', async () => {
    const id = uniqueId('srq');
    const key = await enqueue(
      schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: id }),
    );
    proxy.down();
    const first = await receive(1);
    expect(await invoke(first)).toEqual([first[0]?.MessageId]);
    proxy.restore();

    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await invoke(await receive(30))).toEqual([]);
    expect((await item(keys.notification(key)))?.status).toBe('applied');
    const dlq = await aws.sqsClient.send(
      new GetQueueAttributesCommand({
        QueueUrl: aws.queues.dlqUrl,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    expect(dlq.Attributes?.ApproximateNumberOfMessages).toBe('0');
  });

  it('participant status changes merge into the existing event without touching the status', async () => {
    const id = uniqueId('srq');
    await enqueue(schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: id }));
    await enqueue(
      schedulingRequestBody('event_participant_status_changed', {
        schedulingRequestId: id,
        attendeeStatus: 'declined',
      }),
    );
    // Arrival order matters for notifications without triggered_at: process one at a time.
    expect(await invoke(await receive(30, 1))).toEqual([]);
    expect(await invoke(await receive(30, 1))).toEqual([]);
    const state = await item(keys.schedulingRequest(id));
    const event = state?.event as { attendees: { status: string }[]; start: { time: string } };
    expect(state?.status).toBe('time_chosen');
    // The type names the lifecycle step the status shows: a participant change is none.
    expect(state?.last_notification_type).toBe('scheduling_request_time_chosen');
    expect(event.attendees[0]?.status).toBe('declined');
    expect(event.start.time).toBe('2026-12-01T14:00:00Z');
  });

  it('a participant change for a request not yet seen creates the record with the event map', async () => {
    const id = uniqueId('srq');
    await enqueue(
      schedulingRequestBody('event_participant_status_changed', {
        schedulingRequestId: id,
        hostStatus: 'tentative',
      }),
    );
    expect(await invoke(await receive(30, 1))).toEqual([]);
    const state = await item(keys.schedulingRequest(id));
    expect(state?.status).toBeUndefined();
    expect((state?.event as { host: { status: string } } | undefined)?.host.status).toBe('tentative');
  });

  it('conferencing and Event Trigger callbacks keep event and event_trigger records, once each', async () => {
    const eventId = uniqueId('evt');
    await enqueue(conferencingBody('conferencing_failing', { eventId, subtype: 'profile_missing' }));
    await enqueue(
      conferencingBody('conferencing_assigned', { eventId, joinUrl: 'https://meet.example.com/abc' }),
    );
    expect(await invoke(await receive(30, 1))).toEqual([]);
    expect(await invoke(await receive(30, 1))).toEqual([]);
    expect((await item(keys.event(eventId)))?.conferencing).toEqual({
      status: 'assigned',
      provider_name: 'zoom',
      join_url: 'https://meet.example.com/abc',
    });

    const trigger = eventTriggerBody({ before: 'event_start', offset: { minutes: 5 } }, { eventId });
    await enqueue(trigger, `ntf_${eventId}`);
    await enqueue(trigger, `ntf_${eventId}`);
    expect(await invoke(await receive(30))).toEqual([]);
    const stream = await streamOf(
      keys.eventTrigger({ eventId, transition: 'before:event_start:5', target: '2026-12-01T09:55:00.000Z' }),
    );
    expect(stream.map((r) => r.eventName)).toEqual(['INSERT']);
    expect(parseStreamImage(stream[0]?.dynamodb?.NewImage ?? {})).toMatchObject({
      entity: 'event_trigger',
      event_id: eventId,
      target_time: '2026-12-01T09:55:00.000Z',
    });
  });
});

describe('notification records, a batch at a time', () => {
  function record(key: string, status: NotificationRecord['status']): NotificationRecord {
    return {
      entity: 'notification',
      notification_id: key,
      type: status === 'unparseable' ? null : 'scheduling_request_time_chosen',
      status,
      received_at: '2026-11-23T10:00:00.000Z',
      processed_at: new Date().toISOString(),
      body: status === 'unparseable' ? '{not json' : '{"notification":{}}',
      body_encoding: 'utf8',
    };
  }

  it('creates new ones in one round trip, leaves existing ones, upgrades a replayed unparseable one', async () => {
    const client = dynamoClient(aws.dynamo.endpoint);
    const sent: string[] = [];
    client.middlewareStack.add(
      (next, context) => (args) => {
        sent.push(context.commandName ?? '');
        return next(args);
      },
      { step: 'initialize' },
    );
    const store = new DynamoRecordStore(client, aws.tableName);
    const [existing, unparseable, fresh, other] = ['a', 'b', 'c', 'd'].map(uniqueId);
    await store.putNotifications([
      record(existing as string, 'applied'),
      record(unparseable as string, 'unparseable'),
    ]);
    sent.length = 0;

    const results = await store.putNotifications([
      record(fresh as string, 'applied'),
      record(existing as string, 'stale'),
      record(unparseable as string, 'applied'),
      record(fresh as string, 'applied'), // the same notification twice in one batch
      record(other as string, 'stale'),
    ]);
    expect(results).toEqual(['created', 'exists', 'created', 'exists', 'created']);
    // One batch for the new keys, then one conditional write for each key that was already there.
    expect(sent.sort()).toEqual([
      'BatchExecuteStatementCommand',
      'PutItemCommand',
      'PutItemCommand',
      'PutItemCommand',
    ]);
    expect((await item(keys.notification(existing as string)))?.status).toBe('applied');
    expect((await item(keys.notification(unparseable as string)))?.status).toBe('applied');
    const freshRecord = parseStreamImage(
      (await streamOf(keys.notification(fresh as string)))[0]?.dynamodb?.NewImage ?? {},
    );
    expect(freshRecord).toEqual({ ...record(fresh as string, 'applied'), processed_at: expect.any(String) });
    expect((await streamOf(keys.notification(fresh as string))).map((r) => r.eventName)).toEqual(['INSERT']);
    expect((await streamOf(keys.notification(existing as string))).map((r) => r.eventName)).toEqual([
      'INSERT',
    ]);
    client.destroy();
  });

  it('writes a full batch of the largest notifications ingest accepts in one request', async () => {
    const big = (key: string) => ({
      ...record(key, 'unparseable'),
      body: `{"notification":{"type":"scheduling_request_time_chosen"},"pad":"${'x'.repeat(NOTIFICATION_BODY_MAX_BYTES - 80)}"}`,
    });
    const batch = Array.from({ length: 10 }, () => big(uniqueId('big')));
    expect(await deps.store.putNotifications(batch)).toEqual(batch.map(() => 'created'));
    for (const r of batch) {
      expect((await item(keys.notification(r.notification_id)))?.body).toBe(r.body);
    }
  });

  /** A client whose first `throttled` batches have their first statement throttled (not sent, answered with an error). */
  function throttlingClient(throttled: number) {
    const client = dynamoClient(aws.dynamo.endpoint);
    let calls = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Statements?: unknown[] };
        if (context.commandName !== 'BatchExecuteStatementCommand' || calls++ >= throttled) return next(args);
        const throttle = {
          Error: { Code: 'ThrottlingError', Message: 'Throughput exceeds the current capacity' },
        };
        const rest = input.Statements?.slice(1) ?? [];
        if (rest.length === 0) return { output: { Responses: [throttle], $metadata: {} }, response: {} };
        const result = await next({ ...args, input: { ...input, Statements: rest } });
        const output = result.output as { Responses?: unknown[] };
        output.Responses = [throttle, ...(output.Responses ?? [])];
        return result;
      },
      { step: 'initialize' },
    );
    return client;
  }

  it('retries a statement throttled inside a batch, in the same call', async () => {
    const client = throttlingClient(2);
    const keysOf = ['t1', 't2', 't3'].map(uniqueId);
    const results = await new DynamoRecordStore(client, aws.tableName).putNotifications(
      keysOf.map((key) => record(key, 'applied')),
    );
    expect(results).toEqual(['created', 'created', 'created']);
    for (const key of keysOf) expect((await item(keys.notification(key)))?.status).toBe('applied');
    client.destroy();
  });

  it('gives a statement that stays throttled back as an error for SQS to retry', async () => {
    const client = throttlingClient(3);
    const [stuck, fine] = ['t4', 't5'].map(uniqueId) as [string, string];
    const results = await new DynamoRecordStore(client, aws.tableName).putNotifications([
      record(stuck, 'applied'),
      record(fine, 'applied'),
    ]);
    expect(results[0]).toBeInstanceOf(Error);
    expect(String(results[0])).toContain('ThrottlingError');
    expect(results[1]).toBe('created');
    expect(await item(keys.notification(stuck))).toBeUndefined();
    client.destroy();
  });

  it('reports an unreachable table per record instead of throwing', async () => {
    proxy.down();
    try {
      const results = await deps.store.putNotifications([record(uniqueId('e'), 'applied')]);
      expect(results[0]).toBeInstanceOf(Error);
    } finally {
      proxy.restore();
    }
  });
});
