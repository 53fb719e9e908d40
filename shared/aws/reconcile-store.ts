import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandInput,
  type BatchGetItemCommandOutput,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { keys, PARTITION_KEY } from '../contract/keys.ts';
import { OPEN_INDEX } from '../contract/open-index.ts';
import { type Item, mergeState, REVISION, type StateWrite } from '../contract/ordering.ts';
import type { ReconcileStore } from '../core/ports.ts';
import { isConditionFailure, marshallItem, unchangedSince } from './dynamo-store.ts';

/**
 * DynamoDB adapter of reconciliation: the sparse index of open requests (shared/contract/open-index.ts),
 * consistent reads of the records, and optimistic writes of `mergeState`'s result conditioned on the record's
 * revision (the worker's own fallback path), so two runs at once, or a run racing the worker, never lose a
 * write: the loser re-reads and merges again.
 */

const MAX_BATCH_GET_KEYS = 100;
const MAX_ATTEMPTS = 6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class DynamoReconcileStore implements ReconcileStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async openRequests(now: string, limit: number): Promise<string[]> {
    return (await this.queryIndex('#until >= :now', now, limit)).map((item) => item.id);
  }

  async closeEnded(now: string, limit: number): Promise<string[]> {
    const ended = await this.queryIndex('#until < :now', now, limit);
    const closed: string[] = [];
    for (const { id, openUntil } of ended) {
      try {
        // Index upkeep only: the record's state and ordering are not touched. The revision moves, so that a
        // writer that read the record before cannot put it back into the index with its optimistic write.
        await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: { [PARTITION_KEY]: { S: keys.schedulingRequest(id) } },
            UpdateExpression: 'SET #rev = if_not_exists(#rev, :zero) + :one REMOVE #bucket, #until',
            ConditionExpression: '#until = :seen',
            ExpressionAttributeNames: {
              '#bucket': OPEN_INDEX.partitionKey,
              '#until': OPEN_INDEX.sortKey,
              '#rev': REVISION,
            },
            ExpressionAttributeValues: { ':seen': { S: openUntil }, ':zero': { N: '0' }, ':one': { N: '1' } },
          }),
        );
        closed.push(id);
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
    return closed;
  }

  async records(ids: readonly string[]): Promise<Map<string, Item>> {
    const found = new Map<string, Item>();
    for (let start = 0; start < ids.length; start += MAX_BATCH_GET_KEYS) {
      let request: BatchGetItemCommandInput['RequestItems'] = {
        [this.tableName]: {
          Keys: ids
            .slice(start, start + MAX_BATCH_GET_KEYS)
            .map((id) => ({ [PARTITION_KEY]: { S: keys.schedulingRequest(id) } })),
          ConsistentRead: true,
        },
      };
      for (let attempt = 1; request && Object.keys(request).length > 0; attempt++) {
        if (attempt > MAX_ATTEMPTS) throw new Error('records could not be read');
        const result: BatchGetItemCommandOutput = await this.client.send(
          new BatchGetItemCommand({ RequestItems: request }),
        );
        for (const item of result.Responses?.[this.tableName] ?? []) {
          const record = unmarshall(item);
          found.set(String(record.scheduling_request_id), record);
        }
        request = result.UnprocessedKeys;
        if (request && Object.keys(request).length > 0) await sleep(25 * 2 ** attempt * Math.random());
      }
    }
    return found;
  }

  async reconcile(
    id: string,
    current: Item | undefined,
    build: (current: Item | undefined) => StateWrite | undefined,
    reconciledAt: string,
  ): Promise<'applied' | 'unchanged' | 'stale'> {
    let known = current;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const write = build(known);
      const merged = write ? mergeState(known, write) : undefined;
      try {
        // Nothing new (or nothing that may apply): no write at all, so nothing on the stream.
        if (!merged?.item) return merged?.outcome === 'stale' ? 'stale' : 'unchanged';
        await this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            // The record holds values from signed bodies: marshalled as the worker does (own `constructor` keys).
            Item: marshallItem({ ...merged.item, reconciled_at: reconciledAt }),
            ...unchangedSince(known),
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return 'applied';
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        // Changed meanwhile (the worker, another run): merge again against what is there now.
        known = error.Item ? unmarshall(error.Item as Record<string, AttributeValue>) : await this.get(id);
        // Deleted meanwhile (a tenant purge): a read of Cronofy does not bring it back, without its tenant_id.
        if (current !== undefined && known === undefined) return 'unchanged';
      }
    }
    throw new Error('record changed concurrently on every attempt');
  }

  private async get(id: string): Promise<Item | undefined> {
    const result = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: keys.schedulingRequest(id) } },
        ConsistentRead: true,
      }),
    );
    return result.Item ? unmarshall(result.Item) : undefined;
  }

  private async queryIndex(
    condition: string,
    now: string,
    limit: number,
  ): Promise<{ id: string; openUntil: string }[]> {
    const found: { id: string; openUntil: string }[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: OPEN_INDEX.name,
          KeyConditionExpression: `#bucket = :bucket AND ${condition}`,
          ProjectionExpression: '#id, #until',
          ExpressionAttributeNames: {
            '#bucket': OPEN_INDEX.partitionKey,
            '#until': OPEN_INDEX.sortKey,
            '#id': 'scheduling_request_id',
          },
          ExpressionAttributeValues: marshall({ ':bucket': OPEN_INDEX.bucket, ':now': now }),
          Limit: Math.min(1000, limit - found.length),
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        const value = unmarshall(item);
        if (typeof value.scheduling_request_id === 'string')
          found.push({ id: value.scheduling_request_id, openUntil: String(value[OPEN_INDEX.sortKey]) });
      }
      start = page.LastEvaluatedKey;
    } while (start && found.length < limit);
    return found;
  }
}
