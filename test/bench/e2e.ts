import { Agent, request } from 'node:http';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { idempotencyKey } from '#shared/notifications/envelope.ts';
import { nowMs, percentile, type Spread, spread } from './stats.ts';
import { notification, signatureHeader } from './workload.ts';

/**
 * End to end through local mode (HTTP gateway → ingest → SQS emulator → worker feed → DynamoDB Local → the
 * table's stream), one machine. Each repetition has two phases:
 * - saturation: `senders` concurrent clients POST `count` notifications as fast as answers come back; the
 *   sustained rate is `count` over the time from the first POST to the last notification record on the stream;
 * - paced: notifications at `pacedShare` of that rate for `pacedSeconds`; latency is from the POST to the
 *   notification record's INSERT on the stream. (Under saturation latency only measures the backlog.)
 * Every notification must reach the stream exactly once, and the dead-letter queue must stay empty.
 */

interface StreamChangeLike {
  eventName: string;
  entity: string | undefined;
  newImage?: Record<string, unknown>;
}

/** What this measurement uses of infra/local's `LocalStack` (kept structural: local mode is loaded lazily). */
export interface StackLike {
  url: string;
  dlqUrl: string;
  stream: {
    on(event: 'change', listener: (change: StreamChangeLike) => void): unknown;
    off(event: 'change', listener: (change: StreamChangeLike) => void): unknown;
  };
  clients: { sqs: SQSClient };
}

export interface E2eOptions {
  repetitions: number;
  count: number;
  senders: number;
  pacedShare: number;
  pacedSeconds: number;
  warmup: number;
  timeoutMs: number;
}

export interface E2eResult {
  notificationsPerSecond: Spread;
  /** Rate at which the gateway answered 202 during saturation (ingest alone). */
  ingestPerSecond: Spread;
  pacedRatePerSecond: Spread;
  latencyP50Ms: Spread;
  latencyP99Ms: Spread;
  sent: number;
  onStream: number;
  lost: number;
  duplicatesOnStream: number;
  deadLettered: number;
  workerConcurrency: number;
}

interface Tracker {
  sentAt: Map<string, number>;
  seenAt: Map<string, number>;
  duplicates: number;
  waiters: Set<() => void>;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function post(url: URL, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(body),
          'cronofy-hmac-sha256': signatureHeader(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

async function send(url: URL, tracker: Tracker, body: string): Promise<void> {
  tracker.sentAt.set(idempotencyKey(Buffer.from(body)), nowMs());
  const status = await post(url, body);
  if (status !== 202) throw new Error(`gateway answered ${status}`);
}

function allSeen(tracker: Tracker, keys: readonly string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (keys.every((key) => tracker.seenAt.has(key))) {
        tracker.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      }
    };
    const timer = setTimeout(() => {
      tracker.waiters.delete(check);
      const missing = keys.filter((key) => !tracker.seenAt.has(key)).length;
      reject(new Error(`${missing} of ${keys.length} notifications not on the stream after ${timeoutMs} ms`));
    }, timeoutMs);
    tracker.waiters.add(check);
    check();
  });
}

function bodies(run: string, count: number): { key: string; body: string }[] {
  return Array.from({ length: count }, (_, i) => {
    const { body, key } = notification(run, 3072 + (i % 64) * 32);
    return { key, body };
  });
}

async function saturate(url: URL, tracker: Tracker, list: { key: string; body: string }[], senders: number) {
  let next = 0;
  const start = nowMs();
  await Promise.all(
    Array.from({ length: senders }, async () => {
      while (next < list.length) {
        const item = list[next++];
        if (item) await send(url, tracker, item.body);
      }
    }),
  );
  return { start, answeredAt: nowMs() };
}

async function paced(
  url: URL,
  tracker: Tracker,
  list: { key: string; body: string }[],
  ratePerSecond: number,
) {
  const interval = 1000 / ratePerSecond;
  const start = nowMs();
  const inFlight: Promise<void>[] = [];
  for (const [i, item] of list.entries()) {
    const due = start + i * interval;
    const wait = due - nowMs();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(send(url, tracker, item.body));
  }
  await Promise.all(inFlight);
  return (list.length / (nowMs() - start)) * 1000;
}

export async function measureE2e(
  stack: StackLike,
  options: E2eOptions,
  workerConcurrency: number,
): Promise<E2eResult> {
  const url = new URL('/cronofy/notifications', stack.url);
  const tracker: Tracker = { sentAt: new Map(), seenAt: new Map(), duplicates: 0, waiters: new Set() };
  const onChange = (change: StreamChangeLike) => {
    if (change.entity !== 'notification' || change.eventName !== 'INSERT') return;
    const key = String(change.newImage?.notification_id ?? '');
    if (tracker.seenAt.has(key)) tracker.duplicates++;
    else tracker.seenAt.set(key, nowMs());
    for (const waiter of [...tracker.waiters]) waiter();
  };
  stack.stream.on('change', onChange);

  try {
    const warm = bodies('e2e-warm', options.warmup);
    await saturate(url, tracker, warm, options.senders);
    await allSeen(
      tracker,
      warm.map((w) => w.key),
      options.timeoutMs,
    );

    const rates: number[] = [];
    const ingestRates: number[] = [];
    const pacedRates: number[] = [];
    const p50: number[] = [];
    const p99: number[] = [];
    for (let rep = 0; rep < options.repetitions; rep++) {
      const list = bodies(`e2e-sat-${rep}`, options.count);
      const { start, answeredAt } = await saturate(url, tracker, list, options.senders);
      await allSeen(
        tracker,
        list.map((l) => l.key),
        options.timeoutMs,
      );
      const last = Math.max(...list.map((l) => tracker.seenAt.get(l.key) as number));
      const rate = (options.count / (last - start)) * 1000;
      rates.push(rate);
      ingestRates.push((options.count / (answeredAt - start)) * 1000);

      const target = rate * options.pacedShare;
      const pacedList = bodies(`e2e-paced-${rep}`, Math.max(1, Math.round(target * options.pacedSeconds)));
      pacedRates.push(await paced(url, tracker, pacedList, target));
      await allSeen(
        tracker,
        pacedList.map((l) => l.key),
        options.timeoutMs,
      );
      const latencies = pacedList.map(
        (l) => (tracker.seenAt.get(l.key) as number) - (tracker.sentAt.get(l.key) as number),
      );
      p50.push(percentile(latencies, 50));
      p99.push(percentile(latencies, 99));
    }

    const dlq = await stack.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.dlqUrl,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    return {
      notificationsPerSecond: spread(rates),
      ingestPerSecond: spread(ingestRates),
      pacedRatePerSecond: spread(pacedRates),
      latencyP50Ms: spread(p50),
      latencyP99Ms: spread(p99),
      sent: tracker.sentAt.size,
      onStream: tracker.seenAt.size,
      lost: [...tracker.sentAt.keys()].filter((key) => !tracker.seenAt.has(key)).length,
      duplicatesOnStream: tracker.duplicates,
      deadLettered: Number(dlq.Attributes?.ApproximateNumberOfMessages ?? 0),
      workerConcurrency,
    };
  } finally {
    stack.stream.off('change', onChange);
  }
}
