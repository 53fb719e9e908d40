/**
 * Dollars per million notifications at AWS list prices, from measured inputs. Pure arithmetic: every input
 * is a number the benchmark measured (or an assumption named in `ASSUMPTIONS`), every price is in `PRICES`,
 * the one place prices live (the README points here rather than copying them).
 */

export const PRICES = {
  region: 'us-east-1',
  /** When these were taken. List prices change: re-check them on the AWS pricing pages before relying on them. */
  asOf: '2026-11-23',
  /** The AWS pricing pages the prices below were read from (us-east-1, no free tier). */
  sources: [
    'https://aws.amazon.com/api-gateway/pricing/',
    'https://aws.amazon.com/lambda/pricing/',
    'https://aws.amazon.com/sqs/pricing/',
    'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    'https://aws.amazon.com/s3/pricing/',
    'https://aws.amazon.com/cloudwatch/pricing/',
    'https://aws.amazon.com/eventbridge/pricing/',
  ],
  /**
   * Entered on 2026-12-07 from AWS's published relations and secondary summaries (Pipes $0.40 and custom
   * events $1.00 per million; Standard-IA requests +25 %, storage −60 %), not yet read on the pricing pages
   * above: check these first.
   */
  toVerify: [
    'pipesPerMillionRequests',
    'customEventsPerMillion',
    'dynamoIaPerMillionWriteUnits',
    'dynamoIaPerGbMonth',
  ],
  /** HTTP API, first 300 million requests a month; metered per 512 KB. */
  httpApiPerMillionRequests: 1.0,
  /** REST API, first 333 million requests a month. */
  restApiPerMillionRequests: 3.5,
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  /** Standard queue; every 64 KB chunk of a payload is one request; a batch of up to 10 is one request. */
  sqsPerMillionRequests: 0.4,
  /** On-demand, after the November 2024 reduction. */
  dynamoPerMillionWriteUnits: 0.625,
  dynamoPerGbMonth: 0.25,
  /** The Standard-IA table class: requests 25 % dearer, storage 60 % cheaper. */
  dynamoIaPerMillionWriteUnits: 0.78125,
  dynamoIaPerGbMonth: 0.1,
  s3PutPerThousand: 0.005,
  s3StandardPerGbMonth: 0.023,
  logsIngestionPerGb: 0.5,
  /** EventBridge Pipes: requests after filtering; every 64 KB chunk of a record is one request. */
  pipesPerMillionRequests: 0.4,
  /** EventBridge custom events (`PutEvents`): every 64 KB chunk of an entry is one event. */
  customEventsPerMillion: 1.0,
} as const;

export type Prices = typeof PRICES;

export const ASSUMPTIONS = {
  /** Monthly volume the fixed costs (the event source mapping's empty polls) are spread over. */
  notificationsPerMonth: 1_000_000,
  /** Lambda's SQS event source mapping starts with 5 pollers, each long-polling (20 s) when the queue is empty. */
  eventSourcePollers: 5,
  longPollSeconds: 20,
  /**
   * Lambda's own log lines per invocation. Estimated, not measured: no Lambda runtime runs here. Plain text
   * (the default): START, END and REPORT, plus the XRAY line with active tracing (≈ 70 + 50 + 170 + 80
   * bytes). JSON format at system log level INFO: `platform.start` and `platform.report` (≈ 150 + 400). At
   * WARN: none (only warnings, which a healthy function does not produce).
   */
  platformLogBytes: { text: 370, json: 550, warn: 0 },
  /** DynamoDB bills 100 bytes of overhead per item stored. */
  dynamoItemOverheadBytes: 100,
  secondsPerMonth: 30 * 24 * 3600,
} as const;

const GB = 1024 ** 3;

export interface FunctionInputs {
  memoryMb: number;
  /** What the handler writes (log and metric lines). */
  logBytesPerNotification: number;
  /** What Lambda writes per invocation (see ASSUMPTIONS.platformLogBytes). */
  platformLogBytesPerInvocation: number;
}

export interface DesignInputs {
  name: string;
  api: 'http' | 'rest';
  /** The API's access log line per request, when access logging is on (0 otherwise). */
  accessLogBytesPerRequest: number;
  ingest: FunctionInputs & { billedMs: number };
  worker: FunctionInputs & { batchSize: number; billedMsPerBatch: number };
  sqs: { messageBytes: number };
  dynamo: {
    writeUnitsPerNotification: number;
    storedBytesPerNotification: number;
    storedItemsPerNotification: number;
  };
  s3: { putsPerNotification: number; storedBytesPerNotification: number };
  /**
   * Events to a custom event bus: one per visible state change, each the state record's stream record
   * (`NEW_AND_OLD_IMAGES`), put on the bus by the stream function (see `eventsPath`).
   */
  events: { perNotification: number; bytesPerEvent: number };
}

export interface CostLine {
  item: string;
  /** Quantity per million notifications, in `unit`. */
  quantity: number;
  unit: string;
  unitPrice: number;
  usd: number;
}

export interface CostBreakdown {
  name: string;
  lines: CostLine[];
  total: number;
}

/** SQS, Pipes and custom events bill every started 64 KB of a payload as one request. */
export const chunks64k = (bytes: number): number => Math.max(1, Math.ceil(bytes / (64 * 1024)));

/**
 * The delivery of the table's state changes to the custom event bus as the stack deploys it
 * (infra/constructs/events.ts): a stream Lambda that maps each change and calls `PutEvents`, billed per 64 KB
 * chunk of an entry as a custom event, plus that function's requests, counted at a trickle (one invocation per
 * event: an upper bound; under load a batch holds up to 100 records). Its compute (a few ms of 128–256 MB per
 * batch) is left out: under 1 % of the line. A Pipe would cost `pipesPerMillionRequests` per chunk but still pay
 * the bus for every event it delivers, so it is not cheaper (infra/README.md, "Downstream events").
 * Stream reads by a Lambda trigger are not billed.
 */
export function eventsPath(
  events: DesignInputs['events'],
  prices: Prices = PRICES,
): { item: string; events: number; unitPrice: number; invocations: number } {
  const chunks = events.perNotification * chunks64k(events.bytesPerEvent);
  return {
    item: 'EventBridge PutEvents from the stream function (one event per state change)',
    events: chunks,
    unitPrice: prices.customEventsPerMillion,
    invocations: events.perNotification,
  };
}

/**
 * DynamoDB Standard vs Standard-IA for one design: IA saves `(standard − IA storage price)` per GB-month held
 * and costs `(IA − standard write price)` per million write units. It pays once the table holds more than
 * `breakEvenGb` per million notifications a month, which is `breakEvenMonths` of this design's records.
 */
export function tableClassBreakEven(
  design: DesignInputs,
  prices: Prices = PRICES,
  assumptions = ASSUMPTIONS,
): { breakEvenGb: number; gbPerMonthOfTraffic: number; breakEvenMonths: number } {
  const writePremium = prices.dynamoIaPerMillionWriteUnits - prices.dynamoPerMillionWriteUnits;
  const storageSaving = prices.dynamoPerGbMonth - prices.dynamoIaPerGbMonth;
  const breakEvenGb = (design.dynamo.writeUnitsPerNotification * writePremium) / storageSaving;
  const gbPerMonthOfTraffic =
    (1_000_000 *
      (design.dynamo.storedBytesPerNotification +
        design.dynamo.storedItemsPerNotification * assumptions.dynamoItemOverheadBytes)) /
    GB;
  return { breakEvenGb, gbPerMonthOfTraffic, breakEvenMonths: breakEvenGb / gbPerMonthOfTraffic };
}

/** Lambda bills duration per started millisecond. */
export const billedMs = (measuredMs: number): number => Math.max(1, Math.ceil(measuredMs));

export function emptyReceivesPerNotification(assumptions = ASSUMPTIONS): number {
  const perMonth =
    (assumptions.eventSourcePollers * assumptions.secondsPerMonth) / assumptions.longPollSeconds;
  return perMonth / assumptions.notificationsPerMonth;
}

export function costPerMillion(
  design: DesignInputs,
  prices: Prices = PRICES,
  assumptions = ASSUMPTIONS,
): CostBreakdown {
  const M = 1_000_000;
  const lines: CostLine[] = [];
  const line = (item: string, quantity: number, unit: string, unitPrice: number) =>
    lines.push({ item, quantity, unit, unitPrice, usd: quantity * unitPrice });

  const apiPrice =
    design.api === 'http' ? prices.httpApiPerMillionRequests : prices.restApiPerMillionRequests;
  line(
    `API Gateway ${design.api === 'http' ? 'HTTP' : 'REST'} API requests`,
    1,
    'million requests',
    apiPrice,
  );

  const workerInvocations = M / design.worker.batchSize;
  line(
    'Lambda requests (ingest + worker)',
    (M + workerInvocations) / M,
    'million requests',
    prices.lambdaPerMillionRequests,
  );
  const ingestGbSeconds = M * (design.ingest.billedMs / 1000) * (design.ingest.memoryMb / 1024);
  const workerGbSeconds =
    workerInvocations * (design.worker.billedMsPerBatch / 1000) * (design.worker.memoryMb / 1024);
  line('Lambda duration, ingest (arm64)', ingestGbSeconds, 'GB-s', prices.lambdaArmPerGbSecond);
  line('Lambda duration, worker (arm64)', workerGbSeconds, 'GB-s', prices.lambdaArmPerGbSecond);

  const sends = chunks64k(design.sqs.messageBytes);
  const receivesAndDeletes = 2 / design.worker.batchSize;
  const sqsRequests = sends + receivesAndDeletes + emptyReceivesPerNotification(assumptions);
  line(
    'SQS requests (send, batched receive + delete, empty polls)',
    sqsRequests,
    'million requests',
    prices.sqsPerMillionRequests,
  );

  line(
    'DynamoDB on-demand writes',
    design.dynamo.writeUnitsPerNotification,
    'million WRU',
    prices.dynamoPerMillionWriteUnits,
  );
  const dynamoBytes =
    design.dynamo.storedBytesPerNotification +
    design.dynamo.storedItemsPerNotification * assumptions.dynamoItemOverheadBytes;
  line('DynamoDB storage, one month', (M * dynamoBytes) / GB, 'GB-month', prices.dynamoPerGbMonth);

  if (design.s3.putsPerNotification > 0) {
    line(
      'S3 PUT (raw payload archive)',
      design.s3.putsPerNotification * 1000,
      'thousand requests',
      prices.s3PutPerThousand,
    );
    line(
      'S3 Standard storage, one month',
      (M * design.s3.storedBytesPerNotification) / GB,
      'GB-month',
      prices.s3StandardPerGbMonth,
    );
  }

  const events = eventsPath(design.events, prices);
  line(events.item, events.events, 'million events', events.unitPrice);
  line(
    'Lambda requests, events function (at a trickle)',
    events.invocations,
    'million requests',
    prices.lambdaPerMillionRequests,
  );

  const platformBytes =
    M * design.ingest.platformLogBytesPerInvocation +
    workerInvocations * design.worker.platformLogBytesPerInvocation;
  const appBytes = M * (design.ingest.logBytesPerNotification + design.worker.logBytesPerNotification);
  const accessBytes = M * design.accessLogBytesPerRequest;
  line(
    'CloudWatch Logs ingestion',
    (appBytes + platformBytes + accessBytes) / GB,
    'GB',
    prices.logsIngestionPerGb,
  );

  return { name: design.name, lines, total: lines.reduce((sum, l) => sum + l.usd, 0) };
}
