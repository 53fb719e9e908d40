import { PurgeQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { SqsNotificationQueue } from '#shared/aws/sqs-queue.ts';
import { createLogger } from '#shared/core/logger.ts';
import { makeHandler } from '../../functions/ingest/handler.ts';
import { sqsClient } from '../../infra/local/services.ts';
import { makeFloorHandler } from './floors/ingest-floor-core.ts';
import { CountingSink } from './log-sink.ts';
import { median, nowMs, percentile, type Spread, spread } from './stats.ts';
import { apiEvent, notification, SECRETS } from './workload.ts';

/**
 * Warm ingest: our handler (`makeHandler` with the real SQS adapter, two configured secrets, the real
 * logger) against the floor (HMAC check + one SendMessage), one request at a time as a Lambda instance
 * serves them, against the SQS emulator on loopback. Requests alternate ours/floor (and which goes first) so
 * drift on a shared machine hits both; each round gives a p50 and a p99 ratio, the median round is reported.
 */

export interface IngestWarmResult {
  p50Ratio: Spread;
  p99Ratio: Spread;
  oursP50Ms: number;
  oursP99Ms: number;
  floorP50Ms: number;
  floorP99Ms: number;
  /** Log bytes our handler writes per accepted notification. */
  logBytesPerRequest: number;
  bodyBytes: { min: number; max: number };
  requestsPerRound: number;
  rounds: number;
}

type Handler = (event: APIGatewayProxyEventV2) => Promise<{ statusCode?: number }>;

async function timed(handler: Handler, event: APIGatewayProxyEventV2): Promise<number> {
  const start = nowMs();
  const result = await handler(event);
  const elapsed = nowMs() - start;
  if (result.statusCode !== 202) throw new Error(`ingest answered ${result.statusCode}`);
  return elapsed;
}

/** Ours and the floor request by request, alternating which goes first: drift hits both alike. */
async function pairedRound(ours: Handler, floor: Handler, events: readonly APIGatewayProxyEventV2[]) {
  const oursSamples: number[] = [];
  const floorSamples: number[] = [];
  for (const [i, event] of events.entries()) {
    if (i % 2 === 0) {
      oursSamples.push(await timed(ours, event));
      floorSamples.push(await timed(floor, event));
    } else {
      floorSamples.push(await timed(floor, event));
      oursSamples.push(await timed(ours, event));
    }
  }
  return { oursSamples, floorSamples };
}

export async function measureIngestWarm(
  endpoint: string,
  queueUrl: string,
  options: { rounds: number; requestsPerRound: number; warmup: number },
): Promise<IngestWarmResult> {
  // Two identically configured clients, one each, so neither inherits the other's warm connections.
  const oursClient: SQSClient = sqsClient(endpoint);
  const floorClient: SQSClient = sqsClient(endpoint);
  const sink = new CountingSink();
  const ours = makeHandler({
    queue: new SqsNotificationQueue(oursClient, queueUrl),
    secrets: new StaticSecrets({
      clientSecrets: [...SECRETS],
      embedPublicKey: 'EMB_bench',
      embedSecret: 'ESK_bench',
    }),
    clock: () => new Date(),
    logger: createLogger('ingest', sink.write, {}),
  }) as Handler;
  const floor = makeFloorHandler(floorClient, queueUrl, SECRETS) as Handler;

  // 3–5 KB bodies, evenly spread.
  const pool = Array.from({ length: 64 }, (_, i) => apiEvent(notification('ingest', 3072 + i * 32).body));
  const sizes = pool.map((e) => Buffer.byteLength(e.body ?? ''));
  const events = (n: number) =>
    Array.from({ length: n }, (_, i) => pool[i % pool.length] as APIGatewayProxyEventV2);

  try {
    await pairedRound(ours, floor, events(options.warmup));
    const p50: number[] = [];
    const p99: number[] = [];
    const oursAll: number[] = [];
    const floorAll: number[] = [];
    sink.reset();
    for (let round = 0; round < options.rounds; round++) {
      // Keep the emulator's queue short, so its cost per message is the same in every round.
      await oursClient.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
      const { oursSamples, floorSamples } = await pairedRound(ours, floor, events(options.requestsPerRound));
      p50.push(median(oursSamples) / median(floorSamples));
      p99.push(percentile(oursSamples, 99) / percentile(floorSamples, 99));
      oursAll.push(...oursSamples);
      floorAll.push(...floorSamples);
    }
    return {
      p50Ratio: spread(p50),
      p99Ratio: spread(p99),
      oursP50Ms: median(oursAll),
      oursP99Ms: percentile(oursAll, 99),
      floorP50Ms: median(floorAll),
      floorP99Ms: percentile(floorAll, 99),
      logBytesPerRequest: sink.bytes / (options.rounds * options.requestsPerRound),
      bodyBytes: { min: Math.min(...sizes), max: Math.max(...sizes) },
      requestsPerRound: options.requestsPerRound,
      rounds: options.rounds,
    };
  } finally {
    sink.close();
    oursClient.destroy();
    floorClient.destroy();
  }
}
