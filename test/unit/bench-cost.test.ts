import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  ASSUMPTIONS,
  billedMs,
  costPerMillion,
  type DesignInputs,
  emptyReceivesPerNotification,
  eventsPath,
  PRICES,
  tableClassBreakEven,
} from '../bench/cost.ts';
import { itemBytes } from '../bench/item-size.ts';
import { stateItemParts } from '../bench/worker-throughput.ts';

const design: DesignInputs = {
  name: 'example',
  api: 'http',
  accessLogBytesPerRequest: 0,
  ingest: { billedMs: 10, memoryMb: 1024, logBytesPerNotification: 0, platformLogBytesPerInvocation: 0 },
  worker: {
    batchSize: 10,
    billedMsPerBatch: 100,
    memoryMb: 1024,
    logBytesPerNotification: 0,
    platformLogBytesPerInvocation: 0,
  },
  sqs: { messageBytes: 5000 },
  dynamo: { writeUnitsPerNotification: 2, storedBytesPerNotification: 0, storedItemsPerNotification: 0 },
  s3: { putsPerNotification: 0, storedBytesPerNotification: 0 },
  events: { perNotification: 1, bytesPerEvent: 3000 },
};

const usd = (name: string, d: DesignInputs = design) =>
  costPerMillion(d).lines.find((line) => line.item.startsWith(name))?.usd ?? Number.NaN;

describe('bench cost model', () => {
  it('bills Lambda duration per started millisecond', () => {
    expect(billedMs(0.4)).toBe(1);
    expect(billedMs(20.01)).toBe(21);
  });

  it('prices a million notifications line by line', () => {
    expect(usd('API Gateway')).toBeCloseTo(1.0, 6);
    // 1 M ingest + 0.1 M worker invocations.
    expect(usd('Lambda requests')).toBeCloseTo(0.22, 6);
    // 1 M × 10 ms × 1 GB = 10,000 GB-s.
    expect(usd('Lambda duration, ingest')).toBeCloseTo(10_000 * PRICES.lambdaArmPerGbSecond, 6);
    // 100,000 batches × 100 ms × 1 GB = 10,000 GB-s.
    expect(usd('Lambda duration, worker')).toBeCloseTo(10_000 * PRICES.lambdaArmPerGbSecond, 6);
    expect(usd('DynamoDB on-demand writes')).toBeCloseTo(1.25, 6);
  });

  it('counts one SQS send per 64 KB chunk, batched receives and deletes, and amortised empty polls', () => {
    const polls = emptyReceivesPerNotification();
    expect(polls).toBeCloseTo((5 * 30 * 24 * 3600) / 20 / ASSUMPTIONS.notificationsPerMonth, 9);
    expect(usd('SQS')).toBeCloseTo((1 + 0.2 + polls) * 0.4, 6);
    expect(usd('SQS', { ...design, sqs: { messageBytes: 64 * 1024 + 1 } })).toBeCloseTo(
      (2 + 0.2 + polls) * 0.4,
      6,
    );
  });

  it('adds S3 and the REST API price for the common design', () => {
    const common = {
      ...design,
      api: 'rest' as const,
      s3: { putsPerNotification: 1, storedBytesPerNotification: 0 },
    };
    expect(usd('API Gateway', common)).toBeCloseTo(3.5, 6);
    expect(usd('S3 PUT', common)).toBeCloseTo(5.0, 6);
    expect(usd('S3 PUT')).toBeNaN();
  });

  it('charges a month of storage with 100 bytes of overhead per item', () => {
    const stored = {
      ...design,
      dynamo: {
        writeUnitsPerNotification: 0,
        storedBytesPerNotification: 924,
        storedItemsPerNotification: 1,
      },
    };
    // 1 M items × 1,024 bytes = 0.954 GiB.
    expect(usd('DynamoDB storage', stored)).toBeCloseTo(((1_000_000 * 1024) / 1024 ** 3) * 0.25, 6);
  });

  it('charges log ingestion for handler lines, Lambda lines per invocation and access log lines', () => {
    const logged: DesignInputs = {
      ...design,
      accessLogBytesPerRequest: 300,
      ingest: { ...design.ingest, logBytesPerNotification: 100, platformLogBytesPerInvocation: 370 },
      worker: { ...design.worker, logBytesPerNotification: 200, platformLogBytesPerInvocation: 550 },
    };
    // Per notification: 100 + 200 handler bytes, 370 ingest + 55 worker (one invocation per 10), 300 access.
    const bytes = 1_000_000 * (100 + 200 + 370 + 55 + 300);
    expect(usd('CloudWatch Logs', logged)).toBeCloseTo((bytes / 1024 ** 3) * 0.5, 9);
    expect(usd('CloudWatch Logs')).toBe(0);
  });
});

describe('bench cost model: events and table class', () => {
  it('puts one event per state change with PutEvents, per started 64 KB, and counts the function invoked per event', () => {
    expect(usd('EventBridge PutEvents')).toBeCloseTo(1.0, 6);
    expect(usd('Lambda requests, events function')).toBeCloseTo(0.2, 6);
    const large = { perNotification: 2, bytesPerEvent: 64 * 1024 + 1 };
    expect(usd('EventBridge PutEvents', { ...design, events: large })).toBeCloseTo(2 * 2 * 1.0, 6);
    expect(usd('Lambda requests, events function', { ...design, events: large })).toBeCloseTo(2 * 0.2, 6);
    expect(eventsPath(large)).toMatchObject({ events: 4, invocations: 2, unitPrice: 1.0 });
  });

  it('adds every line into the total, compute included', () => {
    const { lines, total } = costPerMillion(design);
    expect(lines.map((l) => l.item.split(' (')[0])).toEqual([
      'API Gateway HTTP API requests',
      'Lambda requests',
      'Lambda duration, ingest',
      'Lambda duration, worker',
      'SQS requests',
      'DynamoDB on-demand writes',
      'DynamoDB storage, one month',
      'EventBridge PutEvents from the stream function',
      'Lambda requests, events function',
      'CloudWatch Logs ingestion',
    ]);
    expect(total).toBeCloseTo(
      lines.reduce((sum, l) => sum + l.quantity * l.unitPrice, 0),
      9,
    );
  });

  it('finds where Standard-IA pays: storage held against the write premium', () => {
    const stored: DesignInputs = {
      ...design,
      dynamo: {
        writeUnitsPerNotification: 4,
        storedBytesPerNotification: 1924,
        storedItemsPerNotification: 1,
      },
    };
    const even = tableClassBreakEven(stored);
    // 4 M write units a month × $0.15625 premium = $0.625 a month; at $0.15 saved per GB-month: 4.17 GB.
    expect(even.breakEvenGb).toBeCloseTo((4 * 0.15625) / 0.15, 6);
    // A month of traffic stores 1 M × 2,024 B = 1.885 GiB: IA pays past 2.21 months of records.
    expect(even.gbPerMonthOfTraffic).toBeCloseTo((1_000_000 * 2024) / 1024 ** 3, 9);
    expect(even.breakEvenMonths).toBeCloseTo(even.breakEvenGb / even.gbPerMonthOfTraffic, 9);
    expect(even.breakEvenMonths).toBeCloseTo(2.21, 2);
  });
});

describe('bench state record accounting', () => {
  it('splits a state item into contract fields, index attributes and ordering bookkeeping', () => {
    const item = marshall({
      pk: 'scheduling_request#srq_1',
      entity: 'scheduling_request',
      status: 'time_chosen',
      triggered_at: '2026-11-23T10:00:00.000Z',
      open_bucket: 'open',
      open_until: '2026-12-01T14:30:00.000Z',
      lifecycle_applied: ['005f3e8949067fb7'],
      participants_as_of: '2026-11-23T10:00:00.000Z',
      revision: 1,
    });
    const parts = stateItemParts(item);
    expect(parts).toEqual({
      contract: 2 + 24 + 6 + 18 + 6 + 11 + 12 + 24,
      index: 11 + 4 + 10 + 24,
      bookkeeping: 17 + (3 + 1 + 16) + 18 + 24 + 8 + 2,
    });
    expect(parts.contract + parts.index + parts.bookkeeping).toBe(itemBytes(item));
  });
});
