import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { silentLogger } from '#shared/core/logger.ts';
import type { RecordStore } from '#shared/core/ports.ts';
import { makeHandler } from '../../functions/worker/handler.ts';
import { startWorkerFeed } from '../../infra/local/poller.ts';
import { dynamoClient, LOCAL_REGION, sqsClient } from '../../infra/local/services.ts';

/**
 * The worker in a process of its own, so the reliability suite can kill it with SIGKILL in the middle of a
 * batch, the way a Lambda execution environment can vanish. Started by local-pipeline.ts `spawnWorker`.
 * Prints `ready`, then `start <size>` when a batch is handed to the function and `batch <size> <failed>`
 * when it is done.
 */

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const delayMs = Number(process.env.SIM_STEP_DELAY_MS ?? 0);
const pause = () => new Promise((resolve) => setTimeout(resolve, delayMs));

/** Each store call waits a little first, so a kill lands inside batches (and between their writes). */
function slowed(store: RecordStore): RecordStore {
  if (delayMs <= 0) return store;
  return {
    applyState: async (write) => {
      await pause();
      return store.applyState(write);
    },
    putEventTrigger: async (pk, record) => {
      await pause();
      return store.putEventTrigger(pk, record);
    },
    putNotifications: async (records) => {
      await pause();
      return store.putNotifications(records);
    },
    notificationStatuses: async (ids) => {
      await pause();
      return store.notificationStatuses(ids);
    },
  };
}

const worker = makeHandler({
  store: slowed(new DynamoRecordStore(dynamoClient(env('SIM_DYNAMODB_ENDPOINT')), env('SIM_TABLE_NAME'))),
  clock: () => new Date(),
  logger: silentLogger,
  retentionDays: 90,
});

const feed = startWorkerFeed({
  sqs: sqsClient(env('SIM_SQS_ENDPOINT')),
  queueUrl: env('SIM_QUEUE_URL'),
  queueArn: env('SIM_QUEUE_ARN'),
  region: LOCAL_REGION,
  handler: (event) => {
    process.stdout.write(`start ${event.Records.length}\n`);
    return worker(event);
  },
  logger: silentLogger,
  concurrency: Number(env('SIM_WORKER_CONCURRENCY')),
  visibilityTimeoutSeconds: Number(env('SIM_VISIBILITY_TIMEOUT_SECONDS')),
  waitTimeSeconds: 1,
});
feed.on('batch', (outcome) => process.stdout.write(`batch ${outcome.size} ${outcome.failed.length}\n`));
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void feed.stop().then(() => process.exit(0));
});
