import {
  type AttributeValue,
  BatchExecuteStatementCommand,
  BatchGetItemCommand,
  type BatchGetItemCommandInput,
  type BatchGetItemCommandOutput,
  type BatchStatementRequest,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  type DynamoDBClientConfig,
  GetItemCommand,
  PutItemCommand,
  type PutItemCommandInput,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { BODY_ATTRIBUTE, compressBody, rawBody } from '../contract/body-codec.ts';
import { notificationKey, PARTITION_KEY } from '../contract/keys.ts';
import { OPEN_INDEX } from '../contract/open-index.ts';
import {
  ASPECTS,
  appliedKey,
  EVENT_MAP,
  type Item,
  LEGACY_APPLIED,
  MAX_UNTIMED_KEYS,
  mergeState,
  REVISION,
  STATUS_APPLIED,
  STATUS_AS_OF,
  STATUS_RECEIVED_AT,
  sentGroups,
  TENANT,
  VALUES_AS_OF,
  valueGroups,
} from '../contract/ordering.ts';
import type { EventTriggerRecord, NotificationRecord } from '../contract/records.ts';
import {
  type NotificationWriteResult,
  type RecordStore,
  type StateWrite,
  type StateWriteResult,
  StorageRejectedError,
} from '../core/ports.ts';

/**
 * Worker client settings: a DynamoDB call that hangs must fail (and be retried through SQS) long before
 * the function's 30 s timeout, which would fail the whole batch.
 */
export const WORKER_DYNAMODB_CLIENT_CONFIG = {
  requestHandler: { connectionTimeout: 1000, requestTimeout: 5000, throwOnRequestTimeout: true },
} as const satisfies DynamoDBClientConfig;

/** DynamoDB's limit on keys in one `BatchGetItem`. */
const MAX_BATCH_GET_KEYS = 100;

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

/**
 * A notification record as the item stored under its key: the body compressed into one binary attribute
 * (shared/contract/body-codec.ts), which replaces `body` and `body_encoding`.
 */
export function notificationItem(record: NotificationRecord): Record<string, AttributeValue> {
  const { body, body_encoding, ...fields } = record;
  return {
    ...marshallItem({ ...fields, [PARTITION_KEY]: notificationKey(record) }),
    [BODY_ATTRIBUTE]: { B: compressBody(rawBody(body, body_encoding)) },
  };
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

export function isConditionFailure(error: unknown): error is ConditionalCheckFailedException {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as Error)?.name === 'ConditionalCheckFailedException'
  );
}

/** DynamoDB refused the request because of what it holds (item too large, a value it cannot store). */
function isContentRejection(error: unknown): boolean {
  return (error as Error)?.name === 'ValidationException';
}

/**
 * Plain objects as Maps: the marshaller decides an object's type from `value.constructor.name`, which a body
 * can forge with a field named `constructor` (`{"constructor":{"name":"String"}}` would be stored as
 * "[object Object]"). A Map is always marshalled as a DynamoDB map, whatever its keys.
 */
function asMaps(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(asMaps);
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype)
    return value;
  return new Map(Object.entries(value).map(([key, item]) => [key, asMaps(item)]));
}

/** Marshall a value from a body; a value the marshaller refuses is a content problem, not a fault. */
export function marshallItem(item: object): Record<string, AttributeValue> {
  try {
    return marshall(asMaps(item) as object, marshallOptions);
  } catch (error) {
    throw new StorageRejectedError(`value cannot be marshalled (${(error as Error).name})`);
  }
}

/** Errors that mean "these values cannot be stored" become StorageRejectedError; faults pass through. */
function classify(error: unknown): unknown {
  return isContentRejection(error)
    ? new StorageRejectedError(`DynamoDB refused the values (${(error as Error).name})`)
    : error;
}

/** Attempts of the optimistic write before leaving the message to SQS (each loses only to a concurrent write). */
const MAX_STATE_ATTEMPTS = 6;

interface Expression {
  update: string;
  condition: string;
  names: Record<string, string>;
  values: Record<string, unknown>;
}

/**
 * The common case in one conditional UpdateItem, without reading the record: every aspect the notification
 * carries is strictly newer than the record's (or the record has none), and the record is of this version.
 * Then the result equals `mergeState(record, write)`. When the condition fails, DynamoDB returns the record
 * and the adapter falls back to `mergeState` and an optimistic write.
 */
export function buildStateExpression(write: StateWrite): Expression {
  const names: Record<string, string> = { '#legacy': LEGACY_APPLIED, '#rev': REVISION };
  const values: Record<string, unknown> = {
    ':zero': 0,
    ':one': 1,
    ':at': write.at,
    ':key': appliedKey(write.key),
    ':keys': [appliedKey(write.key)],
    ...(write.triggeredAt === undefined ? { ':none': [], ':maxUntimed': MAX_UNTIMED_KEYS } : {}),
  };
  const placeholders = new Map<string, string>();
  const name = (attribute: string) => {
    let placeholder = placeholders.get(attribute);
    if (!placeholder) {
      placeholder = `#n${placeholders.size}`;
      placeholders.set(attribute, placeholder);
      names[placeholder] = attribute;
    }
    return placeholder;
  };
  let valueCount = 0;
  const value = (v: unknown) => {
    const placeholder = `:v${valueCount++}`;
    values[placeholder] = v;
    return placeholder;
  };

  const sets = ['#rev = if_not_exists(#rev, :zero) + :one'];
  const removes: string[] = [];
  const conditions = ['attribute_not_exists(#legacy)'];
  for (const [attribute, v] of Object.entries(write.common)) sets.push(`${name(attribute)} = ${value(v)}`);
  let nested = false;
  if (write.triggeredAt !== undefined) values[':t'] = write.triggeredAt;
  for (const aspect of write.aspects) {
    const attributes = ASPECTS[aspect.aspect];
    const asOf = name(attributes.asOf);
    const shown = name(attributes.triggeredAt);
    const received = name(attributes.receivedAt);
    // The aspect's time is `*_received_at` (a receipt time), `*_as_of` or its `triggered_at` attribute, only one
    // of them present; a receipt time ranks below the other two (shared/contract/ordering.ts).
    conditions.push(
      write.receiptTime
        ? `(attribute_not_exists(${asOf}) AND attribute_not_exists(${shown}) AND (attribute_not_exists(${received}) OR ${received} < :at))`
        : `((attribute_not_exists(${asOf}) AND (attribute_not_exists(${shown}) OR ${shown} < :at)) OR ${asOf} < :at)`,
    );
    const untimed = name(attributes.untimed);
    conditions.push(`NOT contains(${name(attributes.applied)}, :key)`, `NOT contains(${untimed}, :key)`);
    for (const [attribute, v] of Object.entries(aspect.set)) sets.push(`${name(attribute)} = ${value(v)}`);
    for (const attribute of aspect.remove ?? []) removes.push(name(attribute));
    for (const [field, v] of Object.entries(aspect.event ?? {})) {
      nested = true;
      sets.push(`#event.${name(field)} = ${value(v)}`);
    }
    sets.push(`${name(attributes.applied)} = :keys`);
    if (aspect.aspect === 'lifecycle') {
      // A notification applying the whole lifecycle ends what a read kept of the last step (ordering.ts).
      removes.push(name(STATUS_AS_OF), name(STATUS_RECEIVED_AT), name(STATUS_APPLIED));
    }
    // The value groups' own times (VALUES_AS_OF) stay as they are: a group this notification sends has none, one it
    // leaves out already has one. Any other record takes the merge path, which sets or removes them.
    const valuesAsOf = VALUES_AS_OF[aspect.aspect];
    if (valuesAsOf !== undefined) {
      const map = name(valuesAsOf);
      const sent = sentGroups(aspect);
      for (const group of valueGroups(aspect.aspect))
        conditions.push(
          `${sent.includes(group) ? 'attribute_not_exists' : 'attribute_exists'}(${map}.${name(group)})`,
        );
    }
    // An open status whose step sent no event end keeps the record's end as its horizon: the merge computes it.
    if (aspect.set[OPEN_INDEX.sortKey] !== undefined && aspect.event?.end === undefined) {
      names['#event'] = EVENT_MAP;
      conditions.push(`attribute_not_exists(#event.${name('end')})`);
    }
    if (write.triggeredAt !== undefined) {
      sets.push(`${shown} = :t`);
      removes.push(asOf, received);
    } else {
      const [kept, dropped] = write.receiptTime ? [received, asOf] : [asOf, received];
      sets.push(`${kept} = :at`, `${untimed} = list_append(if_not_exists(${untimed}, :none), :keys)`);
      removes.push(shown, dropped);
      // The list is bounded: when it is full, the merge path drops its oldest key.
      conditions.push(`(attribute_not_exists(${untimed}) OR size(${untimed}) < :maxUntimed)`);
    }
  }
  if (write.tenantId !== undefined) {
    // A record's tenant, once set, never changes.
    names['#tenant'] = TENANT;
    values[':tenant'] = write.tenantId;
    sets.push('#tenant = if_not_exists(#tenant, :tenant)');
    // Part of the write's own condition, so no concurrent write can slip between a check and the write: a
    // failure returns the record, and the merge answers tenant_mismatch.
    if (write.tenantOnly) {
      names['#pk'] = PARTITION_KEY;
      conditions.push('(attribute_not_exists(#pk) OR #tenant = :tenant)');
    }
  } else if (write.tenantOnly) throw new Error('a tenantOnly write needs its tenantId');
  if (nested) {
    // Fields inside `event` need the map to exist; a record without one takes the merge path.
    names['#event'] = EVENT_MAP;
    conditions.push('attribute_exists(#event)');
  }
  return {
    update: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
    condition: conditions.join(' AND '),
    names,
    values,
  };
}

/** The condition of an optimistic write: the record is still exactly the one the merge started from. */
export function unchangedSince(
  old: Item | undefined,
): Pick<
  PutItemCommandInput,
  'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
> {
  if (!old)
    return {
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': PARTITION_KEY },
    };
  if (typeof old[REVISION] === 'number')
    return {
      ConditionExpression: '#rev = :rev',
      ExpressionAttributeNames: { '#rev': REVISION },
      ExpressionAttributeValues: { ':rev': { N: String(old[REVISION]) } },
    };
  // A record of the previous version: its list of keys only ever grew.
  if (Array.isArray(old[LEGACY_APPLIED]))
    return {
      ConditionExpression: 'attribute_not_exists(#rev) AND size(#legacy) = :n',
      ExpressionAttributeNames: { '#rev': REVISION, '#legacy': LEGACY_APPLIED },
      ExpressionAttributeValues: { ':n': { N: String((old[LEGACY_APPLIED] as unknown[]).length) } },
    };
  return {
    ConditionExpression: 'attribute_not_exists(#rev) AND #updated = :updated',
    ExpressionAttributeNames: { '#rev': REVISION, '#updated': 'updated_at' },
    ExpressionAttributeValues: { ':updated': { S: String(old.updated_at) } },
  };
}

export class DynamoRecordStore implements RecordStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /**
   * `settled`: the record already shows what `write` is for (a cancel on a cancelled record), so nothing is
   * written; asked of the very record each attempt would replace, so a concurrent writer cannot slip between
   * the check and the write. The answer is then `already_applied`.
   */
  async applyState(
    write: StateWrite,
    settled?: (item: Item | undefined) => boolean,
  ): Promise<StateWriteResult> {
    // `known`: the record as last seen (its absence included); unset until DynamoDB has shown it.
    let known: { item: Item | undefined } | undefined = write.likelyNew ? { item: undefined } : undefined;
    if (settled && !known) known = { item: await this.get(write.pk) };
    // The record's tenant, for a notification that belongs to the tenant of the record it updates.
    const report = (item: Item | undefined) => {
      const tenant = item?.[TENANT] ?? write.tenantId;
      if (typeof tenant === 'string') write.onRecordTenant?.(tenant);
    };
    for (let attempt = 0; attempt < MAX_STATE_ATTEMPTS; attempt++) {
      try {
        if (!known) {
          report(await this.blindUpdate(write));
          return 'applied';
        }
        if (settled?.(known.item)) return 'already_applied';
        const merged = mergeState(known.item, write);
        if (merged.outcome === 'tenant_mismatch') return merged.outcome;
        report(known.item);
        if (merged.outcome !== 'applied' || !merged.item) return merged.outcome;
        await this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: marshallItem(merged.item),
            ...unchangedSince(known.item),
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return 'applied';
      } catch (error) {
        if (!isConditionFailure(error)) throw classify(error);
        // DynamoDB returns the current record with the rejection: no read needed to merge against it.
        known = {
          item: error.Item ? unmarshall(error.Item as Record<string, AttributeValue>) : undefined,
        };
      }
    }
    throw new Error('record changed concurrently on every attempt; will retry');
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
      const pk = notificationKey(record);
      if (first.has(pk)) again.push(index);
      else first.set(pk, index);
    });

    // Built once per record, whatever the number of attempts.
    const statements = new Map<number, BatchStatementRequest>();
    for (const index of first.values()) {
      try {
        statements.set(index, this.insertStatement(records[index] as NotificationRecord));
      } catch (error) {
        results[index] = asError(error);
      }
    }
    const inserts = [...statements.keys()];
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
            else if (error.Code === 'ValidationError')
              results[index] = new StorageRejectedError('DynamoDB refused the notification record');
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

  async notificationStatuses(notificationKeys: readonly string[]): Promise<Map<string, string>> {
    const statuses = new Map<string, string>();
    const unique = [...new Set(notificationKeys)];
    for (let start = 0; start < unique.length; start += MAX_BATCH_GET_KEYS) {
      let request: BatchGetItemCommandInput['RequestItems'] = {
        [this.tableName]: {
          Keys: unique.slice(start, start + MAX_BATCH_GET_KEYS).map((pk) => ({ [PARTITION_KEY]: { S: pk } })),
          ProjectionExpression: '#pk, #status',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#status': 'status' },
          ConsistentRead: true,
        },
      };
      // BatchGetItem may leave keys unprocessed under load: ask again for those, briefly.
      for (let attempt = 1; request && Object.keys(request).length > 0; attempt++) {
        if (attempt > MAX_STATEMENT_ATTEMPTS) throw new Error('notification records could not be read');
        const result: BatchGetItemCommandOutput = await this.client.send(
          new BatchGetItemCommand({ RequestItems: request }),
        );
        for (const item of result.Responses?.[this.tableName] ?? []) {
          const pk = item[PARTITION_KEY]?.S;
          if (pk) statuses.set(pk, item.status?.S ?? '');
        }
        request = result.UnprocessedKeys;
        if (request && Object.keys(request).length > 0) await sleep(backoffMs(attempt));
      }
    }
    return statuses;
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

  /**
   * Create the record if absent, or replace one kept as unparseable / unknown_type by a different outcome, or
   * one kept as stale by `applied`.
   */
  private async putNotification(record: NotificationRecord): Promise<'created' | 'exists'> {
    const applied = record.status === 'applied';
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: notificationItem(record),
          // A notification kept as unparseable / unknown_type may be replayed after a fix: then, and only
          // when the outcome differs, the record is replaced. Two deliveries of one body racing a newer
          // notification can judge it applied and stale: the record says applied, whichever lands first.
          // Any other second write is a no-op.
          ConditionExpression: `attribute_not_exists(#pk) OR (#status IN (:unparseable, :unknown) AND #status <> :status)${applied ? ' OR #status = :stale' : ''}`,
          ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#status': 'status' },
          ExpressionAttributeValues: {
            ':unparseable': { S: 'unparseable' },
            ':unknown': { S: 'unknown_type' },
            ':status': { S: record.status },
            ...(applied ? { ':stale': { S: 'stale' } } : {}),
          },
        }),
      );
      return 'created';
    } catch (error) {
      if (isConditionFailure(error)) return 'exists';
      throw classify(error);
    }
  }

  private async get(pk: string): Promise<Item | undefined> {
    const { Item: item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: pk } },
        ConsistentRead: true,
      }),
    );
    return item ? unmarshall(item) : undefined;
  }

  /** The record before the update (absent when there was none): it tells the record's tenant. */
  private async blindUpdate(write: StateWrite): Promise<Item | undefined> {
    const expression = buildStateExpression(write);
    const { Attributes: old } = await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: write.pk } },
        UpdateExpression: expression.update,
        ConditionExpression: expression.condition,
        ExpressionAttributeNames: expression.names,
        ExpressionAttributeValues: marshallItem(expression.values),
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        // Only a write that does not name its tenant needs to learn the record's (no read units either way).
        ...(write.tenantId === undefined && write.onRecordTenant ? { ReturnValues: 'ALL_OLD' as const } : {}),
      }),
    );
    return old ? unmarshall(old) : undefined;
  }

  private async putIfAbsent(pk: string, item: object): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshallItem({ ...item, [PARTITION_KEY]: pk }),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw classify(error);
    }
  }
}
