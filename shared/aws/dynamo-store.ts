import {
  type AttributeValue,
  BatchExecuteStatementCommand,
  type BatchStatementRequest,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  type DynamoDBClientConfig,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { keys, PARTITION_KEY } from '../keys.ts';
import type { NotificationWriteResult, RecordStore, StateWrite, StateWriteResult } from '../ports.ts';
import type { EventTriggerRecord, NotificationRecord } from '../records.ts';

/**
 * Worker client settings: a DynamoDB call that hangs must fail (and be retried through SQS) long before
 * the function's 30 s timeout, which would fail the whole batch.
 */
export const WORKER_DYNAMODB_CLIENT_CONFIG = {
  requestHandler: { connectionTimeout: 1000, requestTimeout: 5000, throwOnRequestTimeout: true },
} as const satisfies DynamoDBClientConfig;

/** DynamoDB's limit on statements in one `BatchExecuteStatement`. */
const MAX_BATCH_STATEMENTS = 25;

/** Per-statement errors worth another attempt (BatchStatementError codes); the others go back to SQS. */
const RETRYABLE_STATEMENT_ERRORS = new Set([
  'ProvisionedThroughputExceeded',
  'ThrottlingError',
  'RequestLimitExceeded',
  'InternalServerError',
  'TransactionConflict',
]);
const MAX_STATEMENT_ATTEMPTS = 3;

/** Exponential backoff with full jitter: up to 50 ms, then up to 100 ms. */
const backoffMs = (attempt: number) => Math.random() * 25 * 2 ** attempt;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const marshallOptions = { removeUndefinedValues: true, convertClassInstanceToMap: true } as const;

/** A notification record as the item stored under its key. */
function notificationItem(record: NotificationRecord): Record<string, AttributeValue> {
  return marshall({ ...record, [PARTITION_KEY]: keys.notification(record.notification_id) }, marshallOptions);
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

function isConditionFailure(error: unknown): error is ConditionalCheckFailedException {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as Error)?.name === 'ConditionalCheckFailedException'
  );
}

/** DynamoDB rejects an update to `event.attendees` when the record has no `event` map yet. */
function isMissingParent(error: unknown): boolean {
  return (
    (error as Error)?.name === 'ValidationException' &&
    /document path provided in the update expression is invalid/i.test((error as Error).message)
  );
}

interface Expression {
  update: string;
  condition: string;
  names: Record<string, string>;
  values: Record<string, unknown>;
}

/**
 * One UpdateItem that applies the state and records the notification as applied, conditioned on the
 * notification not being applied yet and the record not holding newer state.
 */
export function buildStateExpression(write: StateWrite, createParent: boolean): Expression {
  const names: Record<string, string> = { '#pk': PARTITION_KEY, '#applied': 'applied_notifications' };
  const values: Record<string, unknown> = {
    ':id': write.notificationId,
    ':ids': [write.notificationId],
    ':none': [],
  };
  const sets: string[] = ['#applied = list_append(if_not_exists(#applied, :none), :ids)'];

  Object.entries(write.set).forEach(([name, value], i) => {
    names[`#s${i}`] = name;
    values[`:s${i}`] = value;
    sets.push(`#s${i} = :s${i}`);
  });
  if (write.setNested) {
    names['#parent'] = write.setNested.attribute;
    if (createParent) {
      values[':parent'] = write.setNested.fields;
      sets.push('#parent = :parent');
    } else {
      Object.entries(write.setNested.fields).forEach(([name, value], i) => {
        names[`#n${i}`] = name;
        values[`:n${i}`] = value;
        sets.push(`#parent.#n${i} = :n${i}`);
      });
    }
  }

  let condition = 'attribute_not_exists(#pk) OR NOT contains(#applied, :id)';
  if (write.triggeredAt !== undefined) {
    names['#t'] = 'triggered_at';
    values[':t'] = write.triggeredAt;
    sets.push('#t = :t');
    // Equal times (one-second resolution) apply in arrival order, so `<=`.
    condition = `attribute_not_exists(#pk) OR (NOT contains(#applied, :id) AND (attribute_not_exists(#t) OR #t <= :t))`;
  }
  if (createParent) condition = `(${condition}) AND attribute_not_exists(#parent)`;
  return { update: `SET ${sets.join(', ')}`, condition, names, values };
}

export class DynamoRecordStore implements RecordStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async applyState(write: StateWrite): Promise<StateWriteResult> {
    try {
      await this.update(write, false);
      return 'applied';
    } catch (error) {
      if (isConditionFailure(error)) return this.explainRejection(write, error);
      if (!isMissingParent(error)) throw error;
    }
    try {
      await this.update(write, true);
      return 'applied';
    } catch (error) {
      // If the parent map appeared in between, the next delivery takes the nested path; SQS retries it.
      if (isConditionFailure(error)) return this.explainRejection(write, error);
      throw error;
    }
  }

  async putEventTrigger(pk: string, record: EventTriggerRecord): Promise<'applied' | 'already_applied'> {
    return (await this.putIfAbsent(pk, record)) ? 'applied' : 'already_applied';
  }

  /**
   * All records of a batch in one `BatchExecuteStatement` of PartiQL `INSERT`s: each creates its item only if
   * the key is new (DynamoDB answers `DuplicateItem` per statement otherwise), at a `PutItem`'s write units,
   * with no transaction. Only keys already present take a second round trip, the conditional `PutItem` that
   * decides between a no-op and a replay's upgrade.
   */
  async putNotifications(records: readonly NotificationRecord[]): Promise<NotificationWriteResult[]> {
    const results: NotificationWriteResult[] = new Array(records.length);
    const first = new Map<string, number>();
    const again: number[] = [];
    records.forEach((record, index) => {
      // DynamoDB rejects a whole batch that names one key twice; a repeat goes through the conditional path.
      if (first.has(record.notification_id)) again.push(index);
      else first.set(record.notification_id, index);
    });

    const inserts = [...first.values()];
    // Built once per record, whatever the number of attempts.
    const statements = new Map(
      inserts.map((index) => [index, this.insertStatement(records[index] as NotificationRecord)]),
    );
    for (let start = 0; start < inserts.length; start += MAX_BATCH_STATEMENTS) {
      let pending = inserts.slice(start, start + MAX_BATCH_STATEMENTS);
      // A throttled statement comes back inside a successful response, where the SDK's own retries do not
      // see it: retry those statements here, briefly, before leaving the message to SQS.
      for (let attempt = 1; pending.length > 0; attempt++) {
        const retry: number[] = [];
        try {
          const { Responses = [] } = await this.client.send(
            new BatchExecuteStatementCommand({
              Statements: pending.map((index) => statements.get(index) as BatchStatementRequest),
            }),
          );
          pending.forEach((index, i) => {
            const error = Responses[i]?.Error;
            if (!error) results[index] = 'created';
            else if (error.Code === 'DuplicateItem') again.push(index);
            else if (RETRYABLE_STATEMENT_ERRORS.has(error.Code ?? '') && attempt < MAX_STATEMENT_ATTEMPTS)
              retry.push(index);
            else
              results[index] = new Error(`${error.Code ?? 'Error'}: ${error.Message ?? 'statement failed'}`);
          });
        } catch (error) {
          // The SDK has already retried the request as a whole.
          for (const index of pending) results[index] = asError(error);
        }
        pending = retry;
        if (pending.length > 0) await sleep(backoffMs(attempt));
      }
    }

    await Promise.all(
      again.map(async (index) => {
        try {
          results[index] = await this.putNotification(records[index] as NotificationRecord);
        } catch (error) {
          results[index] = asError(error);
        }
      }),
    );
    return results;
  }

  private insertStatement(record: NotificationRecord): BatchStatementRequest {
    const item = notificationItem(record);
    const names = Object.keys(item);
    return {
      // Attribute names are this project's own field names (letters and underscores), never input.
      Statement: `INSERT INTO "${this.tableName}" VALUE {${names.map((name) => `'${name}': ?`).join(', ')}}`,
      Parameters: names.map((name) => item[name] as AttributeValue),
    };
  }

  /** Create the record if absent, or replace one kept as unparseable / unknown_type by a different outcome. */
  private async putNotification(record: NotificationRecord): Promise<'created' | 'exists'> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: notificationItem(record),
          // A notification kept as unparseable / unknown_type may be replayed after a fix: then, and only
          // when the outcome differs, the record is replaced. Any other second write is a no-op.
          ConditionExpression:
            'attribute_not_exists(#pk) OR (#status IN (:unparseable, :unknown) AND #status <> :status)',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#status': 'status' },
          ExpressionAttributeValues: {
            ':unparseable': { S: 'unparseable' },
            ':unknown': { S: 'unknown_type' },
            ':status': { S: record.status },
          },
        }),
      );
      return 'created';
    } catch (error) {
      if (isConditionFailure(error)) return 'exists';
      throw error;
    }
  }

  private async update(write: StateWrite, createParent: boolean): Promise<void> {
    const expression = buildStateExpression(write, createParent);
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: write.pk } },
        UpdateExpression: expression.update,
        ConditionExpression: expression.condition,
        ExpressionAttributeNames: expression.names,
        ExpressionAttributeValues: marshall(expression.values, marshallOptions),
        // On rejection DynamoDB returns the current item in the same round trip: no read needed to tell a
        // duplicate from a stale notification.
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  }

  private explainRejection(write: StateWrite, error: ConditionalCheckFailedException): StateWriteResult {
    const item = error.Item ? unmarshall(error.Item as Record<string, AttributeValue>) : {};
    const applied = Array.isArray(item.applied_notifications)
      ? (item.applied_notifications as unknown[])
      : [];
    if (applied.includes(write.notificationId)) return 'already_applied';
    const current = typeof item.triggered_at === 'string' ? item.triggered_at : undefined;
    if (write.triggeredAt !== undefined && current !== undefined && current > write.triggeredAt)
      return 'stale';
    // Neither: the record changed between our two attempts (another writer created the parent map).
    // Throwing leaves the message for SQS to deliver again, when the nested path applies.
    throw new Error('record changed concurrently; will retry');
  }

  private async putIfAbsent(pk: string, item: object): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({ ...item, [PARTITION_KEY]: pk }, marshallOptions),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}
