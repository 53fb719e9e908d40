import { createHash, randomUUID } from 'node:crypto';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '#shared/core/logger.ts';
import { QUEUE, WORKER } from '../../infra/definitions.ts';
import type { WorkerHandler } from '../../infra/local/handlers.ts';
import { type BatchOutcome, startWorkerFeed, type WorkerFeed } from '../../infra/local/poller.ts';
import {
  createQueues,
  freePort,
  LOCAL_REGION,
  type LocalQueues,
  type RunningService,
  sqsClient,
  startSqs,
} from '../../infra/local/services.ts';

/**
 * The worker feed against the real SQS emulator, with the queue and DLQ exactly as local mode creates them:
 * what Lambda's SQS event source mapping does with batches, partial batch responses, errors, the visibility
 * timeout and the redrive policy. The handler is a recording fake, so each behaviour is observed directly.
 */

let sqs: RunningService;
let client: SQSClient;

beforeAll(async () => {
  sqs = await startSqs(await freePort());
  client = sqsClient(sqs.endpoint);
});

afterAll(async () => {
  client?.destroy();
  await sqs?.stop();
});

interface Harness {
  queues: LocalQueues;
  queueArn: string;
  events: SQSEvent[];
  outcomes: BatchOutcome[];
  feed: WorkerFeed;
}

async function queueArn(url: string): Promise<string> {
  const result = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return result.Attributes?.QueueArn ?? '';
}

/** Fresh queues per test, created by local mode's own createQueues (redrive policy included). */
async function harness(
  respond: (event: SQSEvent, call: number) => Promise<SQSBatchResponse | undefined>,
  options: {
    visibilityTimeoutSeconds?: number;
    batchingWindowMs?: number;
    concurrency?: number;
    before?: (queueUrl: string) => Promise<void>;
  } = {},
): Promise<Harness> {
  const suffix = randomUUID().slice(0, 8);
  const queues = await createQueues(client, { queue: `feed-${suffix}`, dlq: `feed-${suffix}-dlq` });
  await options.before?.(queues.queueUrl);
  const events: SQSEvent[] = [];
  const outcomes: BatchOutcome[] = [];
  const arn = await queueArn(queues.queueUrl);
  const handler: WorkerHandler = (event) => {
    events.push(event);
    return respond(event, events.length);
  };
  const feed = startWorkerFeed({
    sqs: client,
    queueUrl: queues.queueUrl,
    queueArn: arn,
    region: LOCAL_REGION,
    handler,
    logger: silentLogger,
    concurrency: options.concurrency ?? 1,
    // Longer than the 1 s batching window, or a message could come back into the batch still being gathered
    // (AWS: visibility timeout ≥ function timeout + batching window).
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 2,
    ...(options.batchingWindowMs === undefined ? {} : { batchingWindowMs: options.batchingWindowMs }),
  });
  feed.on('batch', (outcome) => outcomes.push(outcome));
  return { queues, queueArn: arn, events, outcomes, feed };
}

async function send(queueUrl: string, body: string, attributes?: Record<string, string>): Promise<string> {
  const result = await client.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: body,
      ...(attributes
        ? {
            MessageAttributes: Object.fromEntries(
              Object.entries(attributes).map(([name, value]) => [
                name,
                { DataType: 'String', StringValue: value },
              ]),
            ),
          }
        : {}),
    }),
  );
  return result.MessageId ?? '';
}

async function depth(queueUrl: string): Promise<number> {
  const result = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(result.Attributes?.ApproximateNumberOfMessages) +
    Number(result.Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const ok = async (): Promise<SQSBatchResponse> => ({ batchItemFailures: [] });
const md5 = (text: string) => createHash('md5').update(text).digest('hex');

describe.concurrent('worker feed (Lambda SQS event source mapping, locally)', () => {
  it('invokes with a real-shaped SQSEvent batch and deletes what succeeded', async () => {
    const bodies = ['{"n":1}', '{"n":2}', '{"n":3}'];
    const ids: string[] = [];
    const h = await harness(ok, {
      before: async (url) => {
        for (const [i, body] of bodies.entries())
          ids.push(await send(url, body, i === 0 ? { trace: 'abc' } : undefined));
      },
    });
    try {
      await until(() => h.outcomes.length >= 1);
      await until(async () => (await depth(h.queues.queueUrl)) === 0);

      expect(h.events).toHaveLength(1);
      const records = h.events[0]?.Records ?? [];
      expect(records.map((r) => r.body)).toEqual(bodies);
      expect(records.map((r) => r.messageId)).toEqual(ids);
      const [first] = records;
      expect(first).toMatchObject({
        eventSource: 'aws:sqs',
        eventSourceARN: h.queueArn,
        awsRegion: LOCAL_REGION,
        md5OfBody: md5(bodies[0] as string),
        attributes: { ApproximateReceiveCount: '1' },
        messageAttributes: {
          trace: { stringValue: 'abc', dataType: 'String', stringListValues: [], binaryListValues: [] },
        },
      });
      expect(first?.receiptHandle).toMatch(/\S/);
      expect(Number(first?.attributes.SentTimestamp)).toBeGreaterThan(0);
      expect(Number(first?.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThan(0);
      expect(h.outcomes[0]).toMatchObject({ size: 3, failed: [] });
    } finally {
      await h.feed.stop();
    }
  });

  it('retries only the batch item failures, after the visibility timeout, with a higher receive count', async () => {
    const h = await harness(
      async (event, call) => {
        const failing = call === 1 ? event.Records.find((r) => r.body === 'fails-once') : undefined;
        return { batchItemFailures: failing ? [{ itemIdentifier: failing.messageId }] : [] };
      },
      {
        before: async (url) => {
          for (const body of ['a', 'fails-once', 'c']) await send(url, body);
        },
      },
    );
    try {
      await until(() => h.events.length >= 2);
      await until(async () => (await depth(h.queues.queueUrl)) === 0);

      expect(h.events[0]?.Records.map((r) => r.body)).toEqual(['a', 'fails-once', 'c']);
      expect(h.events[1]?.Records.map((r) => r.body)).toEqual(['fails-once']);
      expect(h.events[1]?.Records[0]?.attributes.ApproximateReceiveCount).toBe('2');
      expect(h.events).toHaveLength(2);
    } finally {
      await h.feed.stop();
    }
  });

  it('retries the whole batch when the function throws or names a message not in the batch', async () => {
    const h = await harness(
      async (_event, call) => {
        if (call === 1) throw new Error('boom');
        if (call === 2) return { batchItemFailures: [{ itemIdentifier: 'not-in-this-batch' }] };
        return { batchItemFailures: [] };
      },
      {
        before: async (url) => {
          for (const body of ['x', 'y']) await send(url, body);
        },
      },
    );
    try {
      await until(() => h.events.length >= 3);
      await until(async () => (await depth(h.queues.queueUrl)) === 0);

      expect(h.events.map((e) => e.Records.map((r) => r.body).sort())).toEqual([
        ['x', 'y'],
        ['x', 'y'],
        ['x', 'y'],
      ]);
      expect(h.events[2]?.Records.map((r) => r.attributes.ApproximateReceiveCount)).toEqual(['3', '3']);
      expect(h.outcomes[0]?.error).toMatch(/boom/);
      expect(h.outcomes[1]?.error).toMatch(/not in the batch/);
    } finally {
      await h.feed.stop();
    }
  });

  it(`moves a message that keeps failing to the DLQ after ${QUEUE.maxReceiveCount} receives (the queue's redrive policy)`, async () => {
    const h = await harness(
      async (event) => ({ batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) }),
      {
        batchingWindowMs: 0,
        visibilityTimeoutSeconds: 1,
        before: async (url) => {
          await send(url, 'poison');
        },
      },
    );
    try {
      const dlqMessage = await (async () => {
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline) {
          const result = await client.send(
            new ReceiveMessageCommand({
              QueueUrl: h.queues.dlqUrl,
              WaitTimeSeconds: 1,
              AttributeNames: ['All'],
            }),
          );
          if (result.Messages?.length) return result.Messages[0];
        }
        throw new Error('nothing reached the DLQ');
      })();

      expect(dlqMessage?.Body).toBe('poison');
      expect(h.events).toHaveLength(QUEUE.maxReceiveCount);
      expect(h.events.map((e) => e.Records[0]?.attributes.ApproximateReceiveCount)).toEqual(
        Array.from({ length: QUEUE.maxReceiveCount }, (_, i) => String(i + 1)),
      );
      expect(await depth(h.queues.queueUrl)).toBe(0);
    } finally {
      await h.feed.stop();
    }
  }, 40_000);

  it('gathers up to the batch size within the batching window', async () => {
    const h = await harness(ok, {
      before: async (url) => {
        for (let i = 0; i < WORKER.batchSize + 2; i++) await send(url, `m${i}`);
      },
    });
    try {
      await until(async () => h.events.length >= 2 && (await depth(h.queues.queueUrl)) === 0);

      expect(h.events.map((e) => e.Records.length)).toEqual([WORKER.batchSize, 2]);
    } finally {
      await h.feed.stop();
    }
  });

  it('stops cleanly: the batch in flight finishes and is deleted, the long poll does not hold stop up', async () => {
    let finished = false;
    const h = await harness(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 400));
        finished = true;
        return { batchItemFailures: [] };
      },
      { visibilityTimeoutSeconds: 30, concurrency: 2 },
    );
    await new Promise((resolve) => setTimeout(resolve, 200)); // both pollers are in their long poll
    await send(h.queues.queueUrl, 'in-flight');
    await until(() => h.events.length === 1);

    const started = Date.now();
    await h.feed.stop();

    expect(finished).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await depth(h.queues.queueUrl)).toBe(0);
  });
});
