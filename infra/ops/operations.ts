import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { encodeEnvelope } from '../../shared/envelope.ts';
import { keys } from '../../shared/keys.ts';

/**
 * Operator actions, written against the AWS SDK so they work the same on local mode's emulators and in
 * AWS. Each takes its clients and resource names; the CLI (cli.ts) decides which.
 */

export interface Target {
  ddb: DynamoDBClient;
  sqs: SQSClient;
  tableName: string;
  queueUrl: string;
  dlqUrl: string;
  /** AWS supports SQS message move tasks; the local emulator does not, so local mode moves by hand. */
  local: boolean;
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const result = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  const arn = result.Attributes?.QueueArn;
  if (!arn) throw new Error(`no ARN for queue ${url}`);
  return arn;
}

export interface RedriveResult {
  moved?: number;
  taskHandle?: string;
}

/**
 * Move every message of the DLQ back to the notification queue. Safe to run at any time: the worker
 * applies each notification at most once, so a message redriven twice still has one effect.
 */
export async function redrive(target: Target): Promise<RedriveResult> {
  if (!target.local) {
    const [source, destination] = await Promise.all([
      queueArn(target.sqs, target.dlqUrl),
      queueArn(target.sqs, target.queueUrl),
    ]);
    const task = await target.sqs.send(
      new StartMessageMoveTaskCommand({ SourceArn: source, DestinationArn: destination }),
    );
    return { taskHandle: task.TaskHandle };
  }
  let moved = 0;
  for (;;) {
    const batch = await target.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: target.dlqUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 60,
      }),
    );
    const messages = batch.Messages ?? [];
    if (messages.length === 0) return { moved };
    const entries = messages.map((message, i) => ({ Id: String(i), MessageBody: message.Body ?? '' }));
    const sent = await target.sqs.send(
      new SendMessageBatchCommand({ QueueUrl: target.queueUrl, Entries: entries }),
    );
    // Delete only what reached the queue; anything else stays in the DLQ for the next run.
    const delivered = new Set((sent.Successful ?? []).map((entry) => entry.Id));
    const toDelete = messages
      .map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle }))
      .filter((entry) => delivered.has(entry.Id));
    if (toDelete.length > 0)
      await target.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: target.dlqUrl, Entries: toDelete }));
    moved += toDelete.length;
    if (toDelete.length < messages.length) return { moved };
  }
}

export async function redriveStatus(target: Target): Promise<unknown> {
  const source = await queueArn(target.sqs, target.dlqUrl);
  const result = await target.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: source, MaxResults: 1 }));
  return result.Results?.[0];
}

async function getItem(target: Target, pk: string): Promise<Record<string, unknown> | undefined> {
  const result = await target.ddb.send(
    new GetItemCommand({ TableName: target.tableName, Key: { pk: { S: pk } }, ConsistentRead: true }),
  );
  return result.Item ? unmarshall(result.Item) : undefined;
}

export class NotFound extends Error {
  override readonly name = 'NotFound';
}

/**
 * Put a stored notification back on the queue, as ingest first wrote it (same bytes, so the same
 * idempotency key; same received time and header id), so it takes the worker's path. Already applied: no
 * effect. Kept as unparseable or unknown_type before a fix: applied now, once. A record of the previous
 * version keyed by its `Cronofy-Notification-ID` comes back keyed by its digest, like every new one.
 */
export async function replay(
  target: Target,
  notificationId: string,
): Promise<{ type: unknown; previousStatus: unknown }> {
  const record = await getItem(target, keys.notification(notificationId));
  if (!record) throw new NotFound(`no notification ${notificationId} in ${target.tableName}`);
  const body = String(record.body ?? '');
  const bytes = record.body_encoding === 'base64' ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
  const receivedAt = new Date(String(record.received_at));
  await target.sqs.send(
    new SendMessageCommand({
      QueueUrl: target.queueUrl,
      MessageBody: encodeEnvelope({
        body: bytes,
        receivedAt,
        headerId:
          typeof record.cronofy_notification_id === 'string'
            ? record.cronofy_notification_id
            : notificationId.startsWith('sha256:')
              ? undefined
              : notificationId,
      }),
    }),
  );
  return { type: record.type, previousStatus: record.status };
}

export interface Inspection {
  record: Record<string, unknown>;
  notifications: Record<string, unknown>[];
}

/**
 * A scheduling request's record and the notification records that name it, oldest first (bodies left out).
 * The notifications are found by a filtered Scan: fine for an operator's occasional look, billed by the
 * table's size; downstream systems that need the history read it from the stream instead.
 */
export async function inspect(target: Target, schedulingRequestId: string): Promise<Inspection> {
  const record = await getItem(target, keys.schedulingRequest(schedulingRequestId));
  if (!record) throw new NotFound(`no scheduling request ${schedulingRequestId} in ${target.tableName}`);
  const notifications: Record<string, unknown>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await target.ddb.send(
      new ScanCommand({
        TableName: target.tableName,
        FilterExpression: '#entity = :notification AND #id = :id',
        ExpressionAttributeNames: { '#entity': 'entity', '#id': 'scheduling_request_id' },
        ExpressionAttributeValues: {
          ':notification': { S: 'notification' },
          ':id': { S: schedulingRequestId },
        },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) {
      const { body: _body, pk: _pk, ...rest } = unmarshall(item);
      notifications.push(rest);
    }
    start = page.LastEvaluatedKey;
  } while (start);
  notifications.sort((a, b) => String(a.received_at).localeCompare(String(b.received_at)));
  return { record, notifications };
}
