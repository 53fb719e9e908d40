import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { BODY_ATTRIBUTE } from '#shared/contract/body-codec.ts';
import { keys } from '#shared/contract/keys.ts';
import { appliedKey } from '#shared/contract/ordering.ts';
import { silentLogger } from '#shared/core/logger.ts';
import { processBatch, type WorkerDeps } from '#shared/notifications/apply.ts';
import { encodeEnvelope, idempotencyKey } from '#shared/notifications/envelope.ts';
import { decodeEnvelope } from '#shared/notifications/queue-message.ts';
import { inspect, NotFound, redrive, replay, type Target } from '../../infra/ops/operations.ts';
import { schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';
import { readStream, recordsFor } from '../support/stream-reader.ts';

let aws: LocalAws;
let target: Target;
let deps: WorkerDeps;

beforeAll(async () => {
  aws = await startLocalAws();
  target = {
    ddb: aws.ddb,
    sqs: aws.sqsClient,
    tableName: aws.tableName,
    queueUrl: aws.queues.queueUrl,
    dlqUrl: aws.queues.dlqUrl,
    local: true,
  };
  deps = {
    store: new DynamoRecordStore(aws.ddb, aws.tableName),
    clock: () => new Date(),
    logger: silentLogger,
    retentionDays: 90,
  };
});
afterAll(async () => aws?.stop());

/** Drain the main queue through the worker, as the event source mapping would. */
async function drain(): Promise<number> {
  let processed = 0;
  for (;;) {
    const batch = await aws.sqsClient.send(
      new ReceiveMessageCommand({
        QueueUrl: aws.queues.queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    const messages = batch.Messages ?? [];
    if (messages.length === 0) return processed;
    expect(
      await processBatch(
        messages.map((m) => ({ messageId: m.MessageId ?? '', body: m.Body ?? '' })),
        deps,
      ),
    ).toEqual([]);
    processed += messages.length;
  }
}

describe('operator commands against the local emulators', () => {
  it('redrive moves every DLQ message back, and the worker applies each once', async () => {
    const bodies = [1, 2, 3].map((n) =>
      schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: `srq_redrive_${n}` }),
    );
    for (const body of bodies) {
      await aws.sqsClient.send(
        new SendMessageCommand({
          QueueUrl: aws.queues.dlqUrl,
          MessageBody: encodeEnvelope({ body: Buffer.from(body), receivedAt: new Date() }),
        }),
      );
    }
    expect(await redrive(target)).toEqual({ moved: 3 });
    expect(await redrive(target)).toEqual({ moved: 0 });
    expect(await drain()).toBe(3);
    const inspection = await inspect(target, 'srq_redrive_2');
    expect(inspection.record.status).toBe('time_chosen');
    expect(inspection.notifications).toHaveLength(1);
    expect(inspection.notifications[0]).toMatchObject({
      status: 'applied',
      type: 'scheduling_request_time_chosen',
    });
    expect(inspection.notifications[0]).not.toHaveProperty('body');
    expect(inspection.notifications[0]).not.toHaveProperty(BODY_ATTRIBUTE);
  });

  it('replay puts back the exact bytes of a compressed body, not UTF-8 ones included', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"notification":{"type":"x"},"b":"'),
      Buffer.from([0xff, 0xc3]),
      Buffer.from('"}'),
    ]);
    const key = idempotencyKey(bytes);
    await deps.store.putNotifications([
      {
        entity: 'notification',
        notification_id: key,
        type: null,
        status: 'unparseable',
        received_at: '2026-11-23T10:00:00.000Z',
        body: bytes.toString('base64'),
        body_encoding: 'base64',
        reason: 'body is not valid UTF-8',
        processed_at: '2026-11-23T10:00:01.000Z',
      },
    ]);
    await replay(target, key);
    const { Messages = [] } = await aws.sqsClient.send(
      new ReceiveMessageCommand({ QueueUrl: aws.queues.queueUrl, MaxNumberOfMessages: 10 }),
    );
    expect(Messages).toHaveLength(1);
    // Taken off the queue, so the other tests' drains do not see it again.
    await aws.sqsClient.send(
      new DeleteMessageCommand({ QueueUrl: aws.queues.queueUrl, ReceiptHandle: Messages[0]?.ReceiptHandle }),
    );
    const envelope = decodeEnvelope(Messages[0]?.Body ?? '');
    expect(envelope).toMatchObject({ key, encoding: 'base64', receivedAt: '2026-11-23T10:00:00.000Z' });
    expect(Buffer.from(envelope.body, 'base64').equals(bytes)).toBe(true);
  });

  it('replay of an applied notification has no second effect', async () => {
    const body = schedulingRequestBody('scheduling_request_rescheduled', {
      schedulingRequestId: 'srq_replay_1',
    });
    const key = idempotencyKey(Buffer.from(body));
    await aws.sqsClient.send(
      new SendMessageCommand({
        QueueUrl: aws.queues.queueUrl,
        MessageBody: encodeEnvelope({ body: Buffer.from(body), receivedAt: new Date() }),
      }),
    );
    await drain();
    expect(await replay(target, key)).toEqual({
      type: 'scheduling_request_rescheduled',
      previousStatus: 'applied',
    });
    expect(await drain()).toBe(1);
    const stream = await readStream(aws.dynamo.endpoint, aws.streamArn);
    expect(recordsFor(stream, keys.schedulingRequest('srq_replay_1')).map((r) => r.eventName)).toEqual([
      'INSERT',
    ]);
    expect(recordsFor(stream, keys.notification(key)).map((r) => r.eventName)).toEqual(['INSERT']);
  });

  it('replay applies a notification that an older worker kept as unknown_type, once, keyed by its digest', async () => {
    const body = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: 'srq_replay_2',
    });
    const key = 'ntf_kept_unknown';
    await aws.ddb.send(
      new PutItemCommand({
        TableName: aws.tableName,
        Item: marshall({
          pk: keys.notification(key),
          entity: 'notification',
          notification_id: key,
          type: 'scheduling_request_time_chosen',
          status: 'unknown_type',
          received_at: '2026-11-23T10:00:00.000Z',
          body,
          body_encoding: 'utf8',
          processed_at: '2026-11-23T10:00:01.000Z',
        }),
      }),
    );
    await replay(target, key);
    await replay(target, key);
    expect(await drain()).toBe(2);
    const inspection = await inspect(target, 'srq_replay_2');
    // The previous version keyed this record by its Cronofy-Notification-ID; the replay is keyed by the body's
    // digest, like every notification now, and keeps the header id for tracing.
    const digest = idempotencyKey(Buffer.from(body));
    expect(inspection.record).toMatchObject({
      status: 'time_chosen',
      lifecycle_applied: [appliedKey(digest)],
    });
    expect(inspection.notifications).toEqual([
      expect.objectContaining({
        notification_id: digest,
        cronofy_notification_id: key,
        status: 'applied',
        received_at: '2026-11-23T10:00:00.000Z',
      }),
    ]);
  });

  it("replay of a tenant URL's notification comes back as that tenant's, signed as it was", async () => {
    const id = `srq_replay_tenant_${process.pid}`;
    const booked = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: id,
      triggeredAt: '2026-11-23T09:00:00Z',
    });
    const forged = schedulingRequestBody('scheduling_request_declined', {
      schedulingRequestId: id,
      triggeredAt: '2026-11-23T09:05:00Z',
    });
    const send = (body: string, tenant: string) =>
      aws.sqsClient.send(
        new SendMessageCommand({
          QueueUrl: aws.queues.queueUrl,
          MessageBody: encodeEnvelope({
            body: Buffer.from(body),
            receivedAt: new Date(),
            tenant: { id: tenant, signedBy: 'tenant' },
          }),
        }),
      );
    await send(booked, 'acme');
    await drain();
    await send(forged, 'globex');
    await drain();
    const key = idempotencyKey(Buffer.from(forged));
    await expect(replay(target, key)).rejects.toThrow(NotFound);
    expect(await replay(target, key, 'globex')).toMatchObject({ previousStatus: 'rejected' });
    expect(await drain()).toBe(1);
    // Replayed as globex's own (not as the application's): still refused, the record still acme's and booked.
    const record = await aws.ddb.send(
      new GetItemCommand({ TableName: aws.tableName, Key: { pk: { S: keys.schedulingRequest(id) } } }),
    );
    expect(record.Item?.tenant_id?.S).toBe('acme');
    expect(record.Item?.status?.S).toBe('time_chosen');
    const stream = await readStream(aws.dynamo.endpoint, aws.streamArn);
    expect(recordsFor(stream, keys.notification(key, 'globex')).map((r) => r.eventName)).toEqual(['INSERT']);
  });

  it('says clearly when there is nothing to replay or inspect', async () => {
    await expect(replay(target, 'ntf_missing')).rejects.toThrow(NotFound);
    await expect(inspect(target, 'srq_missing')).rejects.toThrow(
      `no scheduling request srq_missing in ${aws.tableName}`,
    );
  });
});
