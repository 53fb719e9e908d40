import {
  type AttributeValue,
  BatchWriteItemCommand,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, SQSEvent } from 'aws-lambda';
import { DynamoRecordStore, notificationItem } from '#shared/aws/dynamo-store.ts';
import { OPEN_INDEX } from '#shared/contract/open-index.ts';
import { ASPECTS, LEGACY_APPLIED, mergeState, REVISION } from '#shared/contract/ordering.ts';
import { createLogger } from '#shared/core/logger.ts';
import { planNotification } from '#shared/notifications/plan.ts';
import { decodeEnvelope } from '#shared/notifications/queue-message.ts';
import { makeHandler } from '../../functions/worker/handler.ts';
import { TABLE, WORKER } from '../../infra/definitions.ts';
import { dynamoClient } from '../../infra/local/services.ts';
import { DynamoMeter, type MeterCounts } from './dynamo-meter.ts';
import { attributeBytes, itemBytes } from './item-size.ts';
import { CountingSink } from './log-sink.ts';
import { makePowertoolsWorker } from './powertools-worker.ts';
import { cpuMs, selfCpuMs } from './process-cpu.ts';
import { median, nowMs, percentile, type Spread, spread } from './stats.ts';
import { envelopeOf, notification, type Shape, sqsEvent } from './workload.ts';

/**
 * Worker throughput against DynamoDB Local: notifications applied per second at a fixed concurrency of
 * `lanes` in-flight SQS batches of `batchSize` (the event source mapping's shape: each lane is one worker
 * instance that takes the next batch when it is done), for four variants in the same run, interleaved, each
 * on its own table keyed like the records table (see `createPlainTable` for why without a stream):
 * - ours: the worker's `makeHandler` with the real DynamoRecordStore, logger and metric lines;
 * - floor: one bare PutItem per notification of a same-size item (the queue message as one attribute);
 * - contractFloor: the two items the records contract asks for (the state record and the notification record exactly
 *   as ours leaves them), built before the clock starts, written as ours writes them but without a
 *   condition: a bare PutItem per state item, then the batch's notification items in one BatchWriteItem;
 * - powertools: the common design (test/bench/powertools-worker.ts), same table changes plus its own table.
 */

export type Variant = 'ours' | 'floor' | 'contractFloor' | 'contractFloorIndexed' | 'powertools';
/**
 * `contractFloorIndexed`: the contract floor on a table with ours' index of open scheduling requests, so
 * the index's own cost (in DynamoDB Local, and a write unit per new request in AWS) is on both sides.
 */
export const VARIANTS: readonly Variant[] = [
  'ours',
  'floor',
  'contractFloor',
  'contractFloorIndexed',
  'powertools',
];
const perVariant = <T>(value: () => T) =>
  Object.fromEntries(VARIANTS.map((v) => [v, value()])) as Record<Variant, T>;

type Message = { messageId: string; body: string };
type RunBatch = (messages: readonly Message[]) => Promise<number>;

export interface VariantResult {
  notificationsPerSecond: Spread;
  roundTripsPerNotification: number;
  writeUnitsPerNotification: number;
  byOperationPerNotification: Record<string, { calls: number; writeUnits: number }>;
  /** Items and bytes left on the tables per notification (DescribeTable), for the storage cost. */
  storedItemsPerNotification: number;
  storedBytesPerNotification: number;
  logBytesPerNotification: number;
  /** CPU milliseconds per notification in this process (handler + SDK) and in DynamoDB Local. */
  clientCpuMsPerNotification: number;
  dynamoCpuMsPerNotification: number;
  /** One lane, one batch at a time: the duration a worker invocation is billed for. */
  batchMs: { p50: number; p99: number };
}

export interface WorkerResult {
  lanes: number;
  batchSize: number;
  notificationsPerRepetition: number;
  repetitions: number;
  variants: Record<Variant, VariantResult>;
  oursVsFloor: Spread;
  oursVsContractFloor: Spread;
  oursVsContractFloorIndexed: Spread;
  oursVsPowertools: Spread;
  /** Average size of the two items the contract asks for, in this workload (DynamoDB's size rules). */
  contractItemBytes: { state: number; notification: number };
  /** Average bytes of the state item by kind (`stateItemParts`). */
  stateItemParts: StateItemParts;
  /** Average raw body, the queue message carrying it. */
  bodyBytes: number;
  messageBytes: number;
}

export interface WorkerOptions {
  lanes: number;
  batchSize: number;
  notifications: number;
  repetitions: number;
  warmup: number;
  latencyBatches: number;
}

const lambdaContext = {
  functionName: 'bench-worker',
  awsRequestId: 'bench',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

let messageSequence = 0;

/** Bodies of 3–5 KB by default (the benchmark's workload), or about `bodyBytes` each. */
function messages(run: string, count: number, bodyBytes?: number, shape?: Shape): Message[] {
  return Array.from({ length: count }, (_, i) => ({
    messageId: `m-${run}-${++messageSequence}`,
    body: envelopeOf(notification(run, bodyBytes ?? 3072 + (i % 64) * 32, shape)),
  }));
}

/** `lanes` concurrent loops, each taking the next batch until none is left. */
async function drive(
  run: RunBatch,
  all: readonly Message[],
  lanes: number,
  batchSize: number,
): Promise<number> {
  let next = 0;
  let failures = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < all.length) {
        const batch = all.slice(next, next + batchSize);
        next += batchSize;
        failures += await run(batch);
      }
    }),
  );
  return failures;
}

/**
 * A table keyed like the records table (infra/definitions.ts), on demand, without a stream. DynamoDB Local's
 * stream emulation makes every write cost time proportional to the stream records it holds (measured here:
 * 2.4 → 17 ms of emulator CPU per PutItem between 3,000 and 18,000 records), so whichever variant ran last
 * would pay for the others' records. In AWS a stream changes neither a write's price nor its latency, so the
 * throughput tables have none. The idempotency table is the one Powertools documents: key `id`.
 */
export async function createPlainTable(
  client: DynamoDBClient,
  tableName: string,
  key: string,
  withOpenIndex = false,
): Promise<void> {
  // Ours has the records table's index of open scheduling requests: its writes are part of what ours costs.
  const index = TABLE.openIndex;
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [
        { AttributeName: key, AttributeType: 'S' },
        ...(withOpenIndex
          ? [
              { AttributeName: index.partitionKey, AttributeType: 'S' as const },
              { AttributeName: index.sortKey, AttributeType: 'S' as const },
            ]
          : []),
      ],
      KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
      ...(withOpenIndex
        ? {
            GlobalSecondaryIndexes: [
              {
                IndexName: index.name,
                KeySchema: [
                  { AttributeName: index.partitionKey, KeyType: 'HASH' as const },
                  { AttributeName: index.sortKey, KeyType: 'RANGE' as const },
                ],
                Projection: {
                  ProjectionType: 'INCLUDE' as const,
                  NonKeyAttributes: ['scheduling_request_id'],
                },
              },
            ],
          }
        : {}),
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

/** The two items the contract asks for, as ours leaves them, for the contract floor. */
export function contractItems(message: Message): Record<string, AttributeValue>[] {
  const envelope = decodeEnvelope(message.body);
  const now = new Date();
  const plan = planNotification(envelope, now, { retentionDays: 90 });
  const options = { removeUndefinedValues: true, convertClassInstanceToMap: true } as const;
  const state = plan.stateWrites.map((write) => marshall(mergeState(undefined, write).item ?? {}, options));
  // The notification item exactly as the store writes it (its body compressed).
  const record = notificationItem({
    ...plan.notification,
    status: 'applied',
    processed_at: now.toISOString(),
  });
  return [...state, record];
}

/**
 * `contractItems` as the contract floor's queue message: JSON, with binary values (the compressed body) as
 * base64, which the floor turns back into bytes (test/bench/floors/dynamo-put-item.ts).
 */
export function contractItemsJson(message: Message): string {
  return JSON.stringify(contractItems(message), function (this: Record<string, unknown>, key, value) {
    const raw = this[key];
    return raw instanceof Uint8Array ? Buffer.from(raw).toString('base64') : value;
  });
}

export interface StateItemParts {
  /** The key and the fields the records contract names. */
  contract: number;
  /** The open-requests index attributes (shared/contract/open-index.ts). */
  index: number;
  /** The ordering model's attributes: applied keys, receipt-time clocks, the write counter. */
  bookkeeping: number;
}

const INDEX_ATTRIBUTES = new Set<string>([OPEN_INDEX.partitionKey, OPEN_INDEX.sortKey]);
const BOOKKEEPING_ATTRIBUTES = new Set<string>([
  ...Object.values(ASPECTS).flatMap(({ asOf, applied, untimed }) => [asOf, applied, untimed]),
  REVISION,
  LEGACY_APPLIED,
]);

/** Where a state item's bytes go (DynamoDB's size rules): what the contract asks for, and what we add. */
export function stateItemParts(item: Record<string, AttributeValue>): StateItemParts {
  const parts: StateItemParts = { contract: 0, index: 0, bookkeeping: 0 };
  for (const [name, value] of Object.entries(item)) {
    const kind = INDEX_ATTRIBUTES.has(name)
      ? 'index'
      : BOOKKEEPING_ATTRIBUTES.has(name)
        ? 'bookkeeping'
        : 'contract';
    parts[kind] += Buffer.byteLength(name) + attributeBytes(value);
  }
  return parts;
}

async function tableUsage(
  client: DynamoDBClient,
  tables: readonly string[],
): Promise<{ items: number; bytes: number }> {
  let items = 0;
  let bytes = 0;
  for (const table of tables) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    items += Table?.ItemCount ?? 0;
    bytes += Table?.TableSizeBytes ?? 0;
  }
  return { items, bytes };
}

/** The four variants, each with its own metered client, log sink and tables. */
async function setUp(endpoint: string, prefix: string) {
  const meters = Object.fromEntries(VARIANTS.map((v) => [v, new DynamoMeter()])) as Record<
    Variant,
    DynamoMeter
  >;
  const sinks = Object.fromEntries(VARIANTS.map((v) => [v, new CountingSink()])) as Record<
    Variant,
    CountingSink
  >;
  const clients = Object.fromEntries(
    VARIANTS.map((v) => [v, meters[v].attach(dynamoClient(endpoint))]),
  ) as Record<Variant, DynamoDBClient>;
  const tables: Record<Variant, string[]> = {
    ours: [`${prefix}-ours`],
    floor: [`${prefix}-floor`],
    contractFloor: [`${prefix}-contract-floor`],
    contractFloorIndexed: [`${prefix}-contract-floor-indexed`],
    powertools: [`${prefix}-powertools`, `${prefix}-idempotency`],
  };
  const admin = dynamoClient(endpoint);
  for (const variant of VARIANTS)
    await createPlainTable(
      admin,
      tables[variant][0] as string,
      TABLE.partitionKey,
      variant === 'ours' || variant === 'contractFloorIndexed',
    );
  await createPlainTable(admin, tables.powertools[1] as string, 'id');

  const oursHandler = makeHandler(
    {
      store: new DynamoRecordStore(clients.ours, tables.ours[0] as string),
      clock: () => new Date(),
      logger: createLogger('worker', sinks.ours.write, {}),
      retentionDays: 90,
    },
    sinks.ours.write,
  );
  const peerHandler = makePowertoolsWorker({
    client: clients.powertools,
    tableName: tables.powertools[0] as string,
    idempotencyTableName: tables.powertools[1] as string,
    logger: createLogger('worker', sinks.powertools.write, {}),
  });
  const prebuilt = new Map<string, Record<string, AttributeValue>[]>();
  const put = (variant: Variant, Item: Record<string, AttributeValue>) =>
    clients[variant].send(new PutItemCommand({ TableName: tables[variant][0], Item }));
  // The floor: each notification's one item, a batch's notifications in parallel.
  const putEach = (batch: readonly Message[]) =>
    Promise.all(batch.map((m) => put('floor', prebuilt.get(m.messageId)?.[0] ?? {}))).then(() => 0);
  // The contract floor: ours without conditions. State items in parallel, then every notification item of
  // the batch in one BatchWriteItem (25 items at most per call).
  const putContract =
    (variant: 'contractFloor' | 'contractFloorIndexed') => async (batch: readonly Message[]) => {
      const items = batch.map((m) => prebuilt.get(m.messageId) ?? []);
      await Promise.all(items.flatMap((list) => list.slice(0, -1)).map((item) => put(variant, item)));
      const records = items.flatMap((list) => list.slice(-1));
      for (let i = 0; i < records.length; i += 25) {
        const chunk = records.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
        const { UnprocessedItems } = await clients[variant].send(
          new BatchWriteItemCommand({ RequestItems: { [tables[variant][0] as string]: chunk } }),
        );
        if (Object.keys(UnprocessedItems ?? {}).length > 0) throw new Error('unprocessed items');
      }
      return 0;
    };

  const runners: Record<Variant, RunBatch> = {
    ours: async (batch) => (await oursHandler(sqsEvent(batch) as SQSEvent)).batchItemFailures.length,
    powertools: async (batch) =>
      (await peerHandler(sqsEvent(batch) as SQSEvent, lambdaContext)).batchItemFailures.length,
    floor: putEach,
    contractFloor: putContract('contractFloor'),
    contractFloorIndexed: putContract('contractFloorIndexed'),
  };
  const processed = perVariant(() => 0);
  const prepare = (variant: Variant, count: number, bodyBytes?: number, shape?: Shape): Message[] => {
    const list = messages(variant, count, bodyBytes, shape);
    processed[variant] += count;
    // The floors' items are built before the clock starts: a floor does nothing but send.
    for (const m of list) {
      if (variant === 'floor')
        prebuilt.set(m.messageId, [{ pk: { S: `floor#${m.messageId}` }, body: { S: m.body } }]);
      if (variant === 'contractFloor' || variant === 'contractFloorIndexed')
        prebuilt.set(m.messageId, contractItems(m));
    }
    return list;
  };

  const close = () => {
    for (const variant of VARIANTS) {
      sinks[variant].close();
      clients[variant].destroy();
    }
    admin.destroy();
  };
  return { meters, sinks, tables, admin, runners, prepare, processed, prebuilt, close };
}

/**
 * JIT warm-up of DynamoDB Local (its per-request CPU cost falls by half over the first few thousand requests
 * of each kind): every variant's requests, on tables of their own, while nothing is being measured.
 */
export async function warmUpEmulator(
  endpoint: string,
  notifications: number,
  options: Pick<WorkerOptions, 'lanes' | 'batchSize'>,
) {
  const bench = await setUp(endpoint, `warm-${process.pid}`);
  try {
    for (const variant of VARIANTS) {
      await drive(
        bench.runners[variant],
        bench.prepare(variant, notifications),
        options.lanes,
        options.batchSize,
      );
    }
  } finally {
    bench.close();
  }
}

export async function measureWorker(
  endpoint: string,
  options: WorkerOptions,
  dynamoPid?: number,
  prefix = `bench-${process.pid}`,
): Promise<WorkerResult> {
  const { meters, sinks, tables, admin, runners, prepare, processed, prebuilt, close } = await setUp(
    endpoint,
    prefix,
  );
  try {
    for (const variant of VARIANTS) {
      const failures = await drive(
        runners[variant],
        prepare(variant, options.warmup),
        options.lanes,
        options.batchSize,
      );
      if (failures > 0) throw new Error(`${variant}: ${failures} failures during warm-up`);
    }
    prebuilt.clear();

    const rates = perVariant((): number[] => []);
    const clientCpu = perVariant(() => 0);
    const dynamoCpu = perVariant(() => 0);
    for (const variant of VARIANTS) {
      meters[variant].reset();
      sinks[variant].reset();
    }
    for (let rep = 0; rep < options.repetitions; rep++) {
      // Rotate the order so no variant always runs on a warmer (or more loaded) emulator.
      for (let i = 0; i < VARIANTS.length; i++) {
        const variant = VARIANTS[(i + rep) % VARIANTS.length] as Variant;
        const list = prepare(variant, options.notifications);
        const [cpu0, dynamo0, start] = [selfCpuMs(), cpuMs(dynamoPid), nowMs()];
        const failures = await drive(runners[variant], list, options.lanes, options.batchSize);
        const seconds = (nowMs() - start) / 1000;
        clientCpu[variant] += selfCpuMs() - cpu0;
        dynamoCpu[variant] += cpuMs(dynamoPid) - dynamo0;
        if (failures > 0) throw new Error(`${variant}: ${failures} notifications failed`);
        rates[variant].push(options.notifications / seconds);
        prebuilt.clear();
      }
    }
    const totals = Object.fromEntries(VARIANTS.map((v) => [v, meters[v].reset()])) as Record<
      Variant,
      MeterCounts
    >;
    const logBytes = Object.fromEntries(VARIANTS.map((v) => [v, sinks[v].bytes])) as Record<Variant, number>;

    // Batch duration with no contention: what one worker invocation takes.
    const batchMs = perVariant((): number[] => []);
    for (let b = 0; b < options.latencyBatches; b++) {
      for (const variant of VARIANTS) {
        const batch = prepare(variant, options.batchSize);
        const start = nowMs();
        await runners[variant](batch);
        batchMs[variant].push(nowMs() - start);
      }
    }

    const measured = options.notifications * options.repetitions;
    const results = {} as Record<Variant, VariantResult>;
    for (const variant of VARIANTS) {
      const counts = totals[variant];
      if (counts.errors > 0 || counts.conditionFailures > 0) {
        throw new Error(
          `${variant}: ${counts.errors} errors, ${counts.conditionFailures} rejected conditions`,
        );
      }
      const usage = await tableUsage(admin, tables[variant]);
      results[variant] = {
        notificationsPerSecond: spread(rates[variant]),
        roundTripsPerNotification: counts.roundTrips / measured,
        writeUnitsPerNotification: counts.writeUnits / measured,
        byOperationPerNotification: Object.fromEntries(
          Object.entries(counts.byOperation).map(([op, c]) => [
            op.replace(prefix, 'bench'),
            { calls: c.calls / measured, writeUnits: c.writeUnits / measured },
          ]),
        ),
        storedItemsPerNotification: usage.items / processed[variant],
        storedBytesPerNotification: usage.bytes / processed[variant],
        logBytesPerNotification: logBytes[variant] / measured,
        clientCpuMsPerNotification: clientCpu[variant] / measured,
        dynamoCpuMsPerNotification: dynamoCpu[variant] / measured,
        batchMs: { p50: median(batchMs[variant]), p99: percentile(batchMs[variant], 99) },
      };
    }
    const sample = messages('sample', 64);
    const items = sample.map(contractItems);
    const sizes = items.map((list) => list.map(itemBytes));
    const average = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
    const parts = items.map((list) => stateItemParts(list[0] ?? {}));
    const ratio = (a: Variant, b: Variant) =>
      spread(rates[a].map((rate, i) => rate / (rates[b][i] as number)));
    return {
      lanes: options.lanes,
      batchSize: options.batchSize,
      notificationsPerRepetition: options.notifications,
      repetitions: options.repetitions,
      variants: results,
      oursVsFloor: ratio('ours', 'floor'),
      oursVsContractFloor: ratio('ours', 'contractFloor'),
      oursVsContractFloorIndexed: ratio('ours', 'contractFloorIndexed'),
      oursVsPowertools: ratio('ours', 'powertools'),
      contractItemBytes: {
        state: average(sizes.map((s) => s[0] ?? 0)),
        notification: average(sizes.map((s) => s[1] ?? 0)),
      },
      stateItemParts: {
        contract: average(parts.map((p) => p.contract)),
        index: average(parts.map((p) => p.index)),
        bookkeeping: average(parts.map((p) => p.bookkeeping)),
      },
      bodyBytes: average(sample.map((m) => Buffer.byteLength(decodeEnvelope(m.body).body))),
      messageBytes: average(sample.map((m) => Buffer.byteLength(m.body))),
    };
  } finally {
    close();
  }
}

export interface WriteAccounting {
  bodyBytes: number;
  messageBytes: number;
  contractItemBytes: { state: number; notification: number };
  variants: Record<
    'ours' | 'powertools',
    Pick<
      VariantResult,
      | 'writeUnitsPerNotification'
      | 'byOperationPerNotification'
      | 'storedItemsPerNotification'
      | 'storedBytesPerNotification'
      | 'logBytesPerNotification'
    >
  >;
}

/**
 * Write units and storage only (no clock): ours and the Powertools peer on bodies of about `bodyBytes`, so the
 * cost model can show how the comparison moves with payload size.
 */
export async function measureWriteAccounting(
  endpoint: string,
  bodyBytes: number,
  count: number,
  shape: Shape = 'panel',
): Promise<WriteAccounting> {
  const prefix = `acct-${bodyBytes}-${process.pid}`;
  const bench = await setUp(endpoint, prefix);
  try {
    const variants = {} as WriteAccounting['variants'];
    for (const variant of ['ours', 'powertools'] as const) {
      bench.meters[variant].reset();
      bench.sinks[variant].reset();
      const failures = await drive(
        bench.runners[variant],
        bench.prepare(variant, count, bodyBytes, shape),
        8,
        WORKER.batchSize,
      );
      if (failures > 0) throw new Error(`${variant}: ${failures} failures`);
      const counts = bench.meters[variant].reset();
      const usage = await tableUsage(bench.admin, bench.tables[variant]);
      variants[variant] = {
        writeUnitsPerNotification: counts.writeUnits / count,
        byOperationPerNotification: Object.fromEntries(
          Object.entries(counts.byOperation).map(([op, c]) => [
            op.replace(prefix, 'bench'),
            { calls: c.calls / count, writeUnits: c.writeUnits / count },
          ]),
        ),
        storedItemsPerNotification: usage.items / count,
        storedBytesPerNotification: usage.bytes / count,
        logBytesPerNotification: bench.sinks[variant].bytes / count,
      };
    }
    const sample = messages('acct-sample', 16, bodyBytes);
    const sizes = sample.map((m) => contractItems(m).map(itemBytes));
    const average = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
    return {
      bodyBytes: average(sample.map((m) => Buffer.byteLength(decodeEnvelope(m.body).body))),
      messageBytes: average(sample.map((m) => Buffer.byteLength(m.body))),
      contractItemBytes: {
        state: average(sizes.map((x) => x[0] ?? 0)),
        notification: average(sizes.map((x) => x[1] ?? 0)),
      },
      variants,
    };
  } finally {
    bench.close();
  }
}
