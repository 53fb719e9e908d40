import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { keys, PARTITION_KEY, sha256Hex, TTL_ATTRIBUTE } from '../contract/keys.ts';
import { OPEN_INDEX, OPEN_UNTIL_UNKNOWN } from '../contract/open-index.ts';
import { CANCELLED_AT, LAST_NOTIFICATION_TYPE, type StateWrite } from '../contract/ordering.ts';
import type {
  CreatedRequest,
  IdempotencyState,
  IdempotencyStore,
  SchedulingRequestStore,
} from '../core/ports.ts';
import { DynamoRecordStore, isConditionFailure } from './dynamo-store.ts';

/**
 * DynamoDB adapter of the scheduling-request routes: the `pending` record, the cancel (through the ordering
 * model of DynamoRecordStore), and the idempotency items (`idempotency#<sha256 of caller and key>`).
 */

const marshallOptions = { removeUndefinedValues: true } as const;

export const idempotencyKey = (scope: string) => `idempotency#${sha256Hex(scope)}`;

function toState(item: Record<string, AttributeValue> | undefined): IdempotencyState | undefined {
  if (!item) return undefined;
  const value = unmarshall(item);
  return {
    status: value.status,
    fingerprint: String(value.fingerprint ?? ''),
    token: String(value.token ?? ''),
    leaseUntil: Number(value.lease_until ?? 0),
    ...(value.created ? { created: value.created as CreatedRequest } : {}),
  };
}

/** The state write of a cancel through the API at `at`. */
export function cancelWrite(id: string, at: string): StateWrite {
  return {
    pk: keys.schedulingRequest(id),
    // Unique per cancel time: a retried cancel at the same time is recognised as applied.
    key: `api-cancel:${at}`,
    at,
    common: { entity: 'scheduling_request', scheduling_request_id: id, updated_at: at },
    aspects: [
      {
        aspect: 'lifecycle',
        set: { status: 'cancelled', [CANCELLED_AT]: at },
        // No notification's step is shown any more.
        remove: [OPEN_INDEX.partitionKey, OPEN_INDEX.sortKey, LAST_NOTIFICATION_TYPE],
        allGroups: true,
      },
    ],
  };
}

/** When a record is already cancelled (a cancel then writes nothing): its cancel time. */
export function cancelledAt(item: Record<string, unknown> | undefined): string | undefined {
  return item?.status === 'cancelled' && typeof item[CANCELLED_AT] === 'string'
    ? item[CANCELLED_AT]
    : undefined;
}

export class DynamoSchedulingStore implements SchedulingRequestStore, IdempotencyStore {
  private readonly records: DynamoRecordStore;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.records = new DynamoRecordStore(client, tableName);
  }

  async recordCreated(created: CreatedRequest, now: string): Promise<void> {
    // The record vanishing between the two writes (a purge) sends the second back to the first.
    for (let attempt = 0; attempt < 2; attempt++) if (await this.recordCreatedOnce(created, now)) return;
    throw new Error('the scheduling request record changed concurrently; will retry');
  }

  /** False when the record disappeared between creating it and completing it: try again. */
  private async recordCreatedOnce(created: CreatedRequest, now: string): Promise<boolean> {
    const id = created.scheduling_request_id;
    const metadata = Object.keys(created.metadata).length > 0 ? created.metadata : undefined;
    const apiFields = {
      created_via: 'api',
      select_url: created.select_url,
      dashboard_url: created.dashboard_url,
    };
    try {
      // No lifecycle time (`triggered_at`, `lifecycle_as_of`): any notification for it applies over `pending`.
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(
            {
              [PARTITION_KEY]: keys.schedulingRequest(id),
              entity: 'scheduling_request',
              scheduling_request_id: id,
              status: 'pending',
              ...apiFields,
              tenant_id: created.tenant_id,
              ...(metadata ? { metadata, correlation_id: metadata.correlation_id } : {}),
              [OPEN_INDEX.partitionKey]: OPEN_INDEX.bucket,
              [OPEN_INDEX.sortKey]: OPEN_UNTIL_UNKNOWN,
              updated_at: now,
              revision: 1,
            },
            marshallOptions,
          ),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    // A notification got there first (or this is a retry): add what only the API knows, keep everything else.
    const values: Record<string, unknown> = {
      ':via': apiFields.created_via,
      ':select': apiFields.select_url,
      ':zero': 0,
      ':one': 1,
      ':now': now,
    };
    // `updated_at` is when this change is written (a downstream event's `occurred_at`), not a change in itself.
    const sets = [
      '#via = :via',
      '#select = :select',
      '#updated = :now',
      '#rev = if_not_exists(#rev, :zero) + :one',
    ];
    // A write that changes none of the record's fields is no write at all (nothing on the stream): the update
    // runs only when one of its values is new to the record (a replayed creation finds them all there).
    const changes = [
      '#via <> :via',
      '#select <> :select',
      'attribute_not_exists(#via)',
      'attribute_not_exists(#select)',
    ];
    const names: Record<string, string> = {
      '#pk': PARTITION_KEY,
      '#via': 'created_via',
      '#select': 'select_url',
      '#updated': 'updated_at',
      '#rev': 'revision',
    };
    if (apiFields.dashboard_url) {
      sets.push('#dashboard = :dashboard');
      changes.push('attribute_not_exists(#dashboard)', '#dashboard <> :dashboard');
      names['#dashboard'] = 'dashboard_url';
      values[':dashboard'] = apiFields.dashboard_url;
    }
    if (created.tenant_id !== undefined) {
      // A record's tenant, once set, never changes.
      sets.push('#tenant = if_not_exists(#tenant, :tenant)');
      changes.push('attribute_not_exists(#tenant)');
      names['#tenant'] = 'tenant_id';
      values[':tenant'] = created.tenant_id;
    }
    if (metadata) {
      sets.push('#metadata = if_not_exists(#metadata, :metadata)');
      changes.push('attribute_not_exists(#metadata)');
      names['#metadata'] = 'metadata';
      values[':metadata'] = metadata;
      if (metadata.correlation_id !== undefined) {
        sets.push('#correlation = if_not_exists(#correlation, :correlation)');
        changes.push('attribute_not_exists(#correlation)');
        names['#correlation'] = 'correlation_id';
        values[':correlation'] = metadata.correlation_id;
      }
    }
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: { S: keys.schedulingRequest(id) } },
          UpdateExpression: `SET ${sets.join(', ')}`,
          // Only on the record: an update of an item that is gone would create one without its `entity`.
          ConditionExpression: `attribute_exists(#pk) AND (${changes.join(' OR ')})`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: marshall(values, marshallOptions),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // The record holds every value already (nothing to write), or it is gone (create it again).
      return error.Item !== undefined;
    }
    return true;
  }

  async tenantOf(id: string): Promise<string | undefined> {
    const result = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: keys.schedulingRequest(id) } },
        ProjectionExpression: '#tenant',
        ExpressionAttributeNames: { '#tenant': 'tenant_id' },
        ConsistentRead: true,
      }),
    );
    return result.Item?.tenant_id?.S;
  }

  async recordCancelled(id: string, at: string): Promise<string> {
    // A repeated cancel (a retry, a second call, one racing this) keeps the first: no new time, no change on
    // the stream, and its time is the answer.
    let first: string | undefined;
    const cancelled = (item: Record<string, unknown> | undefined) => {
      first = cancelledAt(item);
      return first !== undefined;
    };
    await this.records.applyState(cancelWrite(id, at), cancelled);
    return first ?? at;
  }

  async begin(
    scope: string,
    item: Parameters<IdempotencyStore['begin']>[1],
  ): Promise<{ started: true } | { started: false; existing: IdempotencyState }> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(
            {
              [PARTITION_KEY]: idempotencyKey(scope),
              entity: 'idempotency',
              status: 'in_progress',
              fingerprint: item.fingerprint,
              token: item.token,
              lease_until: item.leaseUntil,
              created_at: item.createdAt,
              expires_at: item.expiresAt,
              tenant_id: item.tenantId,
            },
            marshallOptions,
          ),
          // DynamoDB's TTL deletes expired items within days, not at once: an expired item counts as absent.
          ConditionExpression: 'attribute_not_exists(#pk) OR #expires < :now',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#expires': TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ':now': { N: String(this.nowSeconds()) } },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { started: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const existing = toState(error.Item as Record<string, AttributeValue> | undefined);
      if (!existing) throw error;
      return { started: false, existing };
    }
  }

  async get(scope: string): Promise<IdempotencyState | undefined> {
    const result = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: idempotencyKey(scope) } },
        ConsistentRead: true,
      }),
    );
    const item = result.Item;
    if (item && Number(item.expires_at?.N ?? 0) < this.nowSeconds()) return undefined;
    return toState(item);
  }

  async takeOver(scope: string, fromToken: string, toToken: string, leaseUntil: number): Promise<boolean> {
    return this.conditional(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: idempotencyKey(scope) } },
        UpdateExpression: 'SET #token = :to, #lease = :lease',
        ConditionExpression: '#token = :from AND #status = :in_progress',
        ExpressionAttributeNames: { '#token': 'token', '#lease': 'lease_until', '#status': 'status' },
        ExpressionAttributeValues: {
          ':to': { S: toToken },
          ':from': { S: fromToken },
          ':lease': { N: String(leaseUntil) },
          ':in_progress': { S: 'in_progress' },
        },
      }),
    );
  }

  async saveCreated(scope: string, token: string, created: CreatedRequest): Promise<void> {
    const saved = await this.conditional(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: idempotencyKey(scope) } },
        UpdateExpression: 'SET #status = :created, #created = :answer, #id = :id',
        ConditionExpression: '#token = :token',
        ExpressionAttributeNames: {
          '#status': 'status',
          '#created': 'created',
          '#id': 'scheduling_request_id',
          '#token': 'token',
        },
        ExpressionAttributeValues: marshall(
          {
            ':created': 'created',
            ':answer': created,
            ':id': created.scheduling_request_id,
            ':token': token,
          },
          marshallOptions,
        ),
      }),
    );
    if (!saved) throw new Error('the idempotency item was taken over by another attempt');
  }

  async complete(scope: string): Promise<void> {
    await this.conditional(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: idempotencyKey(scope) } },
        UpdateExpression: 'SET #status = :completed',
        ConditionExpression: 'attribute_exists(#created)',
        ExpressionAttributeNames: { '#status': 'status', '#created': 'created' },
        ExpressionAttributeValues: { ':completed': { S: 'completed' } },
      }),
    );
  }

  async release(scope: string, token: string): Promise<void> {
    await this.conditional(
      new DeleteItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: idempotencyKey(scope) } },
        ConditionExpression: '#token = :token AND #status = :in_progress',
        ExpressionAttributeNames: { '#token': 'token', '#status': 'status' },
        ExpressionAttributeValues: { ':token': { S: token }, ':in_progress': { S: 'in_progress' } },
      }),
    );
  }

  /** Send a conditional write; false when its condition failed. */
  private async conditional(command: UpdateItemCommand | DeleteItemCommand): Promise<boolean> {
    try {
      await this.client.send(command as UpdateItemCommand);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}
