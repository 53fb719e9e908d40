import { EventEmitter, on } from 'node:events';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { withContractBody } from '#shared/contract/body-codec.ts';
import type { Logger } from '#shared/core/ports.ts';
import { TABLE } from '../definitions.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../local-mode.ts';
import { printable } from './log.ts';

/**
 * Tails the table's stream on DynamoDB Local the way a downstream consumer reads it in AWS: DescribeStream
 * for the shards (again and again, as shards close and new ones open), one iterator per shard from its
 * start (a child shard once its parent is read to its end, as a consumer must to keep each item's changes in
 * order), GetRecords in a loop. Every record is emitted as a `change` (EventEmitter or `for await`), and the
 * console gets one line per record: event name, entity, id, status. Never a whole image: they hold personal
 * data.
 */

export type StreamEventName = 'INSERT' | 'MODIFY' | 'REMOVE';

export interface StreamChange {
  eventName: StreamEventName;
  /** The item's partition key (`pk`). */
  pk: string;
  entity: string | undefined;
  /**
   * The image as plain values (unmarshalled), a notification's body as the records contract has it (`body`,
   * `body_encoding`, as `parseStreamImage` gives it), or undefined for a REMOVE.
   */
  newImage: Record<string, unknown> | undefined;
  oldImage: Record<string, unknown> | undefined;
  /** The record as DynamoDB Streams returns it (DynamoDB JSON images), e.g. for `parseStreamImage`. */
  record: _Record;
}

export interface StreamTailOptions {
  endpoint: string;
  streamArn: string;
  logger: Logger;
  /** One line per record; omit to stay silent. */
  print?: (line: string) => void;
  /** Pause between reads that returned nothing. */
  idleMs?: number;
  /** How many recent changes `waitFor` can look back on. */
  historySize?: number;
}

const DESCRIBE_EVERY_MS = 1000;

/**
 * DynamoDB Local's stream writes an empty map as `{}`, with no type, where DynamoDB Streams writes `{"M": {}}`
 * (a booking with no metadata, an idempotency answer without metadata). Unrepaired, `unmarshall` and
 * `parseStreamImage` throw on it, and the tail would retry that record forever: every later change and event
 * of the run would be lost.
 */
function repaired(value: AttributeValue): AttributeValue {
  if (value.M !== undefined) return { M: repairedMap(value.M) };
  if (value.L !== undefined) return { L: value.L.map(repaired) };
  return Object.keys(value).length === 0 ? { M: {} } : value;
}

function repairedMap(map: Record<string, AttributeValue>): Record<string, AttributeValue> {
  return Object.fromEntries(Object.entries(map).map(([name, value]) => [name, repaired(value)]));
}

function repairedImage<Image>(image: Image): Image {
  return image === undefined ? image : (repairedMap(image as Record<string, AttributeValue>) as Image);
}

function plain(image: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!image) return undefined;
  const item = unmarshall(image as Record<string, AttributeValue>);
  try {
    return withContractBody(item);
  } catch {
    // A body that does not decompress (an item not written by the worker) must not stop the tail: the
    // change is passed on as stored.
    return item;
  }
}

/** The identifying field of each entity: safe to print, unlike the rest of an image. */
const ID_FIELD: Record<string, string> = {
  scheduling_request: 'scheduling_request_id',
  event: 'event_id',
  event_trigger: 'event_id',
  notification: 'notification_id',
  redirect: 'step',
};

function identity(image: Record<string, unknown> | undefined, pk: string): string {
  const field = ID_FIELD[String(image?.entity)];
  const value = field ? image?.[field] : undefined;
  return printable(typeof value === 'string' ? value : pk);
}

export function describeChange(change: StreamChange): string {
  const image = change.newImage ?? change.oldImage;
  const status = typeof image?.status === 'string' ? ` status=${image.status}` : '';
  // A tenant id matches the tenant id pattern where it is set, but a record is data: printed safely.
  const tenant = typeof image?.tenant_id === 'string' ? ` tenant=${printable(image.tenant_id)}` : '';
  return `${change.eventName} ${change.entity ?? '?'} ${identity(image, change.pk)}${tenant}${status}`;
}

interface ShardState {
  /** The shard this one continues: read only once that one is read to its end (a record's changes in order). */
  parent: string | undefined;
  iterator: string | undefined;
  lastSequence: string | undefined;
  closed: boolean;
}

export class StreamTail extends EventEmitter<{ change: [StreamChange] }> {
  private readonly client: DynamoDBStreamsClient;
  private readonly shards = new Map<string, ShardState>();
  private readonly history: StreamChange[] = [];
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private lastDescribe = 0;

  constructor(private readonly options: StreamTailOptions) {
    super();
    this.client = new DynamoDBStreamsClient({
      endpoint: options.endpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
  }

  static start(options: StreamTailOptions): StreamTail {
    const tail = new StreamTail(options);
    tail.loop = tail.run();
    return tail;
  }

  /** Changes seen so far (the most recent `historySize`). */
  changes(): readonly StreamChange[] {
    return this.history;
  }

  /** The first change, already seen or still to come, that satisfies `predicate`. */
  waitFor(predicate: (change: StreamChange) => boolean, timeoutMs = 15_000): Promise<StreamChange> {
    const seen = this.history.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const listener = (change: StreamChange) => {
        if (!predicate(change)) return;
        clearTimeout(timer);
        this.off('change', listener);
        resolve(change);
      };
      const timer = setTimeout(() => {
        this.off('change', listener);
        reject(new Error(`no matching stream record within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('change', listener);
    });
  }

  /** `for await (const change of tail)`: changes from now on, until the tail stops. */
  async *[Symbol.asyncIterator](): AsyncGenerator<StreamChange> {
    try {
      for await (const [change] of on(this, 'change', { signal: this.stopping.signal }))
        yield change as StreamChange;
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error;
    }
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    this.client.destroy();
  }

  private get aborted(): boolean {
    return this.stopping.signal.aborted;
  }

  private async run(): Promise<void> {
    const idleMs = this.options.idleMs ?? 100;
    while (!this.aborted) {
      try {
        if (Date.now() - this.lastDescribe >= DESCRIBE_EVERY_MS) await this.discoverShards();
        const read = await this.readOpenShards();
        if (read === 0) await this.sleep(idleMs);
      } catch (error) {
        if (this.aborted) break;
        this.options.logger.warn('stream read failed; retrying', { error: (error as Error).name });
        await this.sleep(1000);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.stopping.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }

  private async discoverShards(): Promise<void> {
    this.lastDescribe = Date.now();
    const shards: Shard[] = [];
    let start: string | undefined;
    do {
      const page = await this.client.send(
        new DescribeStreamCommand({ StreamArn: this.options.streamArn, ExclusiveStartShardId: start }),
        { abortSignal: this.stopping.signal },
      );
      shards.push(...(page.StreamDescription?.Shards ?? []));
      start = page.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    for (const shard of shards) {
      if (!shard.ShardId || this.shards.has(shard.ShardId)) continue;
      // Every shard is read from its start: the local table is new at each start, so nothing is replayed
      // that was not written by this run, and nothing written before the tail started is missed.
      this.shards.set(shard.ShardId, {
        parent: shard.ParentShardId,
        iterator: await this.iterator(shard.ShardId),
        lastSequence: undefined,
        closed: false,
      });
    }
  }

  private async iterator(shardId: string, after?: string): Promise<string | undefined> {
    const result = await this.client.send(
      new GetShardIteratorCommand({
        StreamArn: this.options.streamArn,
        ShardId: shardId,
        ShardIteratorType: after ? 'AFTER_SEQUENCE_NUMBER' : 'TRIM_HORIZON',
        ...(after ? { SequenceNumber: after } : {}),
      }),
      { abortSignal: this.stopping.signal },
    );
    return result.ShardIterator;
  }

  private async readOpenShards(): Promise<number> {
    let count = 0;
    for (const [shardId, state] of this.shards) {
      if (state.closed || this.aborted) continue;
      // A child shard holds the later changes of the parent's items: it waits for the parent's last page.
      if (state.parent !== undefined && this.shards.get(state.parent)?.closed === false) continue;
      if (!state.iterator) {
        state.closed = true;
        continue;
      }
      let page: GetRecordsCommandOutput;
      try {
        page = await this.client.send(new GetRecordsCommand({ ShardIterator: state.iterator }), {
          abortSignal: this.stopping.signal,
        });
      } catch (error) {
        const name = (error as Error).name;
        if (name !== 'ExpiredIteratorException' && name !== 'TrimmedDataAccessException') throw error;
        state.iterator = await this.iterator(
          shardId,
          name === 'ExpiredIteratorException' ? state.lastSequence : undefined,
        );
        continue;
      }
      for (const record of page.Records ?? []) {
        state.lastSequence = record.dynamodb?.SequenceNumber ?? state.lastSequence;
        this.publish(record);
        count++;
      }
      state.iterator = page.NextShardIterator;
      // A closed shard has no next iterator; its successor appears at the next DescribeStream.
      if (!state.iterator) {
        state.closed = true;
        this.lastDescribe = 0;
      }
    }
    return count;
  }

  private publish(stored: _Record): void {
    const record: _Record = stored.dynamodb
      ? {
          ...stored,
          dynamodb: {
            ...stored.dynamodb,
            NewImage: repairedImage(stored.dynamodb.NewImage),
            OldImage: repairedImage(stored.dynamodb.OldImage),
          },
        }
      : stored;
    const newImage = plain(record.dynamodb?.NewImage);
    const oldImage = plain(record.dynamodb?.OldImage);
    const keys = plain(record.dynamodb?.Keys) ?? {};
    const image = newImage ?? oldImage;
    const change: StreamChange = {
      eventName: (record.eventName ?? 'MODIFY') as StreamEventName,
      pk: typeof keys[TABLE.partitionKey] === 'string' ? (keys[TABLE.partitionKey] as string) : '',
      entity: typeof image?.entity === 'string' ? image.entity : undefined,
      newImage,
      oldImage,
      record,
    };
    this.history.push(change);
    if (this.history.length > (this.options.historySize ?? 1000)) this.history.shift();
    this.options.print?.(describeChange(change));
    this.emit('change', change);
  }
}
