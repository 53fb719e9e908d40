import { Readable } from 'node:stream';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { createLogger } from '#shared/core/logger.ts';
import { makeHandler } from '../../functions/worker/handler.ts';
import { profileSection } from './profile.ts';
import { workerBatches } from './workload.ts';

/**
 * `npx tsx test/bench/worker-client-profile.ts`: the worker's own CPU per notification with DynamoDB taken
 * out, the real handler and store over an SDK client whose transport answers at once (every write
 * succeeds), so what is left is our code and the SDK's serialization, signing and middleware. Prints CPU
 * microseconds per notification (`process.cpuUsage`, unaffected by waiting) and where the time went.
 */

const decoder = new TextDecoder();
const instantTransport = {
  async handle(request: { headers: Record<string, string>; body?: unknown }) {
    let body = '{}';
    if ((request.headers['x-amz-target'] ?? '').endsWith('BatchExecuteStatement')) {
      const text =
        typeof request.body === 'string' ? request.body : decoder.decode(request.body as Uint8Array);
      const statements = (JSON.parse(text) as { Statements: unknown[] }).Statements.length;
      body = JSON.stringify({ Responses: Array.from({ length: statements }, () => ({})) });
    }
    return {
      response: {
        statusCode: 200,
        headers: { 'content-type': 'application/x-amz-json-1.0' },
        body: Readable.from([Buffer.from(body)]),
      },
    };
  },
  updateHttpClientConfig() {},
  httpHandlerConfigs: () => ({}),
};

const client = new DynamoDBClient({
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9',
  credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  requestHandler: instantTransport as never,
});
const discard = () => {};
const worker = makeHandler(
  {
    store: new DynamoRecordStore(client, 'bench'),
    clock: () => new Date(),
    logger: createLogger('worker', discard, {}),
    retentionDays: 90,
  },
  discard,
);

const batches = (count: number) => workerBatches('profile', count);
const run = async (list: ReturnType<typeof batches>) => {
  for (const batch of list) {
    const { batchItemFailures } = await worker(batch as SQSEvent);
    if (batchItemFailures.length > 0) throw new Error('a notification failed');
  }
};

await run(batches(200));
const measured = batches(300);
const start = process.cpuUsage();
const { entries } = await profileSection(() => run(measured));
const used = process.cpuUsage(start);
console.log(`CPU per notification: ${((used.user + used.system) / 3000).toFixed(0)} µs (profiler on)`);
for (const entry of entries.slice(0, 20)) console.log(`${(entry.share * 100).toFixed(1)}%  ${entry.name}`);
