import { type CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import {
  ChangeMessageVisibilityBatchCommand,
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
import { BODY_ATTRIBUTE, storedBodyBytes } from '#shared/contract/body-codec.ts';
import { keys, PARTITION_KEY } from '#shared/contract/keys.ts';
import { NOTIFICATION_STATUSES, type NotificationStatus } from '#shared/contract/records.ts';
import { encodeEnvelope } from '#shared/notifications/envelope.ts';
import { decodeEnvelope, type Envelope } from '#shared/notifications/queue-message.ts';
import { listTenantItems } from './tenants.ts';

/**
 * Operator actions, written against the AWS SDK so they work the same on local mode's emulators and in
 * AWS. Each takes its clients and resource names; the CLI (cli.ts) decides which.
 */

export interface Target {
  ddb: DynamoDBClient;
  sqs: SQSClient;
  tableName: string;
  /** The tenants table (`tenant list|show`); absent for a stage deployed before tenants existed. */
  tenantsTableName?: string;
  queueUrl: string;
  dlqUrl: string;
  /** AWS supports SQS message move tasks; the local emulator does not, so local mode moves by hand. */
  local: boolean;
  /** The worker's log group (AWS), where the reason a message failed is logged. */
  workerLogGroup?: string;
  /** CloudWatch Logs, for the worker's log group (AWS only). */
  logs?: CloudWatchLogsClient;
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

/** Messages waiting in the DLQ (SQS's approximate count). */
export async function deadLetterCount(target: Target): Promise<number> {
  const result = await target.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: target.dlqUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  const count = (name: 'ApproximateNumberOfMessages' | 'ApproximateNumberOfMessagesNotVisible') =>
    Number(result.Attributes?.[name] ?? 0);
  return count('ApproximateNumberOfMessages') + count('ApproximateNumberOfMessagesNotVisible');
}

/**
 * The latest SQS message move task of the DLQ (AWS). Local mode has none to follow: its redrive moves every
 * message before it returns, so the status is what is left in the DLQ.
 */
export async function redriveStatus(
  target: Target,
): Promise<{ local: true; waiting: number } | { local: false; task: unknown }> {
  if (target.local) return { local: true, waiting: await deadLetterCount(target) };
  const source = await queueArn(target.sqs, target.dlqUrl);
  const result = await target.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: source, MaxResults: 1 }));
  return { local: false, task: result.Results?.[0] };
}

async function getItem(target: Target, pk: string): Promise<Record<string, unknown> | undefined> {
  const result = await target.ddb.send(
    new GetItemCommand({
      TableName: target.tableName,
      Key: { [PARTITION_KEY]: { S: pk } },
      ConsistentRead: true,
    }),
  );
  return result.Item ? unmarshall(result.Item) : undefined;
}

export class NotFound extends Error {
  override readonly name = 'NotFound';
}

/**
 * The registered tenants that hold a notification under their own key (one their secret signed at their URL):
 * read only when `replay` without `--tenant` finds none, one read per tenant, keys only.
 */
async function tenantsHolding(target: Target, notificationId: string): Promise<string[]> {
  if (!target.tenantsTableName) return [];
  const ids = (await listTenantItems(target.ddb, target.tenantsTableName)).map((t) => String(t.tenant_id));
  const holders: string[] = [];
  for (let i = 0; i < ids.length; i += 25) {
    const found = await Promise.all(
      ids.slice(i, i + 25).map(async (id) => {
        const answer = await target.ddb.send(
          new GetItemCommand({
            TableName: target.tableName,
            Key: { [PARTITION_KEY]: { S: keys.notification(notificationId, id) } },
            ProjectionExpression: PARTITION_KEY,
          }),
        );
        return answer.Item ? [id] : [];
      }),
    );
    holders.push(...found.flat());
  }
  return holders;
}

/**
 * Put a stored notification back on the queue, as ingest first wrote it (same bytes, so the same
 * idempotency key; same received time and header id), so it takes the worker's path. Already applied: no
 * effect. Kept as unparseable or unknown_type before a fix: applied now, once. A record of the previous
 * version keyed by its `Cronofy-Notification-ID` comes back keyed by its digest, like every new one. One that
 * arrived at a tenant URL (`tenantId`) comes back as that tenant's, signed as it was (a notification only the
 * tenant's own secret signed stays bound by that: a replay cannot widen what it may change).
 */
export async function replay(
  target: Target,
  notificationId: string,
  tenantId?: string,
): Promise<{ type: unknown; previousStatus: unknown }> {
  const record = await getItem(target, keys.notification(notificationId, tenantId));
  if (!record && tenantId === undefined) {
    const holders = await tenantsHolding(target, notificationId);
    throw new NotFound(
      holders.length > 0
        ? `no notification ${notificationId} in ${target.tableName} without a tenant: it arrived at the URL of ` +
            `tenant ${holders.join(', tenant ')}; replay it with --tenant ${holders[0]}`
        : `no notification ${notificationId} in ${target.tableName} (a notification that arrived at a tenant URL ` +
            'needs --tenant <tenant_id>; ops list shows its tenant)',
    );
  }
  if (!record)
    throw new NotFound(`no notification ${notificationId} of tenant ${tenantId} in ${target.tableName}`);
  const signedBy = record.signed_by === 'tenant' ? 'tenant' : 'application';
  // Either stored form: the compressed attribute, or text / base64 as records were written before it.
  const bytes = storedBodyBytes(record);
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
        ...(tenantId === undefined ? {} : { tenant: { id: tenantId, signedBy } }),
        opsReplay: true,
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
      const {
        body: _body,
        body_encoding: _encoding,
        [BODY_ATTRIBUTE]: _stored,
        [PARTITION_KEY]: _pk,
        ...rest
      } = unmarshall(item);
      notifications.push(rest);
    }
    start = page.LastEvaluatedKey;
  } while (start);
  notifications.sort((a, b) => String(a.received_at).localeCompare(String(b.received_at)));
  return { record, notifications };
}

/** The statuses a notification record can have (the table's contract); all but `applied` need a look. */
export { NOTIFICATION_STATUSES, type NotificationStatus };
export const NOT_APPLIED: readonly NotificationStatus[] = [
  'stale',
  'unparseable',
  'unknown_type',
  'rejected',
];

/** What `list` shows of a notification record: identifiers and outcome, never a value of the body. */
export interface NotificationSummary {
  notification_id: string;
  type: string | null;
  status: string;
  received_at: string;
  reason?: string;
  scheduling_request_id?: string;
  event_id?: string;
  tenant_id?: string;
  /** Set when it arrived at a tenant URL (then `replay` needs `--tenant`). */
  signed_by?: string;
}

const SUMMARY_FIELDS = [
  'notification_id',
  'type',
  'status',
  'received_at',
  'reason',
  'scheduling_request_id',
  'event_id',
  'tenant_id',
  'signed_by',
] as const;

/**
 * Notification records with one of `statuses`, received at or after `since` (of `tenant` only, when given),
 * oldest first. A Scan with a filter (the table has no index on status or tenant): it reads the whole table, so
 * on a large table it takes time and read units. Only the summary fields are read (a projection): bodies never leave the table.
 */
export async function listNotifications(
  target: Target,
  options: { statuses: readonly NotificationStatus[]; since?: Date; limit?: number; tenant?: string },
): Promise<{ notifications: NotificationSummary[]; truncated: boolean }> {
  const names: Record<string, string> = { '#entity': 'entity', '#status': 'status' };
  const values: Record<string, AttributeValue> = { ':entity': { S: 'notification' } };
  options.statuses.forEach((status, i) => {
    values[`:s${i}`] = { S: status };
  });
  let filter = `#entity = :entity AND #status IN (${options.statuses.map((_, i) => `:s${i}`).join(', ')})`;
  if (options.since) {
    names['#received_at'] = 'received_at';
    values[':since'] = { S: options.since.toISOString() };
    filter += ' AND #received_at >= :since';
  }
  if (options.tenant !== undefined) {
    names['#tenant'] = 'tenant_id';
    values[':tenant'] = { S: options.tenant };
    filter += ' AND #tenant = :tenant';
  }
  SUMMARY_FIELDS.forEach((field, i) => {
    names[`#f${i}`] = field;
  });
  const limit = options.limit ?? 1000;
  const found: NotificationSummary[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await target.ddb.send(
      new ScanCommand({
        TableName: target.tableName,
        FilterExpression: filter,
        ProjectionExpression: SUMMARY_FIELDS.map((_, i) => `#f${i}`).join(', '),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) found.push(unmarshall(item) as NotificationSummary);
    start = page.LastEvaluatedKey;
  } while (start);
  found.sort((a, b) => String(a.received_at).localeCompare(String(b.received_at)));
  return { notifications: found.slice(-limit), truncated: found.length > limit };
}

/** What `dlq peek` shows of a dead-lettered message: identifiers, type and counts, never a body value. */
export interface DeadLetter {
  messageId: string;
  /** The body's idempotency key: the notification id the worker would record. */
  notificationId?: string;
  /** The `Cronofy-Notification-ID` header it arrived with, when one was sent (tracing only). */
  headerId?: string;
  /** `notification.type` of the body, `(not JSON)` or `(not a notification envelope)`. */
  type: string;
  receivedAt?: string;
  /** Receives counted by SQS, on the main queue and in the DLQ (this peek included). */
  receiveCount: number;
  sentAt?: string;
  bytes: number;
  /** The last error the worker logged for this message (AWS, from its log group), when found. */
  lastError?: string;
}

/** The type and ids of an envelope, read as the worker reads it, without keeping any other value of the body. */
function describeEnvelope(
  text: string,
): Pick<DeadLetter, 'notificationId' | 'headerId' | 'type' | 'receivedAt'> {
  let envelope: Envelope;
  try {
    envelope = decodeEnvelope(text);
  } catch {
    return { type: '(not a notification envelope)' };
  }
  let type = envelope.encoding === 'utf8' ? '(not JSON)' : '(not UTF-8)';
  if (envelope.encoding === 'utf8') {
    try {
      const parsed = JSON.parse(envelope.body) as { notification?: { type?: unknown } } | null;
      const value = parsed?.notification?.type;
      type = typeof value === 'string' ? value.slice(0, 100) : '(no notification.type)';
    } catch {
      // a body that is not JSON: its type stays "(not JSON)"
    }
  }
  return {
    notificationId: envelope.key,
    ...(envelope.headerId ? { headerId: envelope.headerId } : {}),
    type,
    receivedAt: envelope.receivedAt,
  };
}

/**
 * Look at up to `max` dead-lettered messages without consuming them: each is received (hidden for 30 s, so
 * one pass sees each message once), described, and made visible again at once. If this process dies
 * mid-way, SQS makes them visible again after the 30 s anyway. Nothing is deleted.
 */
export async function peekDeadLetters(target: Target, options: { max?: number } = {}): Promise<DeadLetter[]> {
  const max = options.max ?? 50;
  const seen = new Map<string, DeadLetter>();
  const handles: string[] = [];
  try {
    while (seen.size < max) {
      const batch = await target.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: target.dlqUrl,
          MaxNumberOfMessages: Math.min(10, max - seen.size),
          WaitTimeSeconds: 0,
          VisibilityTimeout: 30,
          MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
        }),
      );
      const messages = batch.Messages ?? [];
      if (messages.length === 0) break;
      let fresh = 0;
      for (const message of messages) {
        if (message.ReceiptHandle) handles.push(message.ReceiptHandle);
        const id = message.MessageId ?? '';
        if (seen.has(id)) continue;
        fresh++;
        const sent = Number(message.Attributes?.SentTimestamp);
        seen.set(id, {
          messageId: id,
          ...describeEnvelope(message.Body ?? ''),
          receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
          ...(Number.isFinite(sent) ? { sentAt: new Date(sent).toISOString() } : {}),
          bytes: Buffer.byteLength(message.Body ?? ''),
        });
      }
      if (fresh === 0) break;
    }
  } finally {
    // Give every message back at once: a peek must not delay a redrive or hide a message.
    for (let i = 0; i < handles.length; i += 10) {
      await target.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: target.dlqUrl,
          Entries: handles
            .slice(i, i + 10)
            .map((handle, j) => ({ Id: String(j), ReceiptHandle: handle, VisibilityTimeout: 0 })),
        }),
      );
    }
  }
  const letters = [...seen.values()];
  if (target.logs && target.workerLogGroup && letters.length > 0) {
    const errors = await lastWorkerErrors(
      target.logs,
      target.workerLogGroup,
      letters.map((letter) => letter.messageId),
    );
    for (const letter of letters) {
      const error = errors.get(letter.messageId);
      if (error) letter.lastError = error;
    }
  }
  return letters;
}

/**
 * The last error the worker logged for each message id (its `notification will be retried` and `queue
 * message rejected` lines carry `messageId` and `error`), from the last 14 days of its log group: as long as
 * a message can stay in the DLQ.
 */
async function lastWorkerErrors(
  logs: CloudWatchLogsClient,
  logGroupName: string,
  messageIds: readonly string[],
): Promise<Map<string, string>> {
  const errors = new Map<string, { at: number; error: string }>();
  for (let i = 0; i < messageIds.length; i += 20) {
    const ids = messageIds.slice(i, i + 20);
    let nextToken: string | undefined;
    do {
      const page = await logs.send(
        new FilterLogEventsCommand({
          logGroupName,
          startTime: Date.now() - 14 * 86_400_000,
          filterPattern: `{ ${ids.map((id) => `$.messageId = "${id}"`).join(' || ')} }`,
          nextToken,
        }),
      );
      for (const event of page.events ?? []) {
        try {
          const line = JSON.parse(event.message ?? '') as { messageId?: string; error?: unknown };
          const at = event.timestamp ?? 0;
          if (!line.messageId || line.error === undefined) continue;
          const previous = errors.get(line.messageId);
          if (!previous || previous.at <= at) errors.set(line.messageId, { at, error: String(line.error) });
        } catch {
          // not one of our JSON lines
        }
      }
      nextToken = page.nextToken;
    } while (nextToken);
  }
  return new Map([...errors].map(([id, { error }]) => [id, error]));
}
