import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { silentLogger } from '#shared/core/logger.ts';
import type { RecordStore } from '#shared/core/ports.ts';
import { makeHandler } from '../../functions/worker/handler.ts';
import { startWorkerFeed } from './poller.ts';
import { dynamoClient, LOCAL_REGION, sqsClient } from './services.ts';

/**
 * The worker in a process of its own, so the reliability suite can kill it with SIGKILL in the middle of a
 * batch, the way a Lambda execution environment can vanish. Started by `spawnWorkerProcess` (worker.ts),
 * which passes the WORKER_* variables. Prints `ready`, then `start <size>` when a batch is handed to the
 * function and `batch <size> <failed>` when it is done.
 */

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const delayMs = Number(process.env.WORKER_STEP_DELAY_MS ?? 0);
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
  store: slowed(
    new DynamoRecordStore(dynamoClient(env('WORKER_DYNAMODB_ENDPOINT')), env('WORKER_TABLE_NAME')),
  ),
  clock: () => new Date(),
  logger: silentLogger,
  retentionDays: Number(env('WORKER_RETENTION_DAYS')),
});

const feed = startWorkerFeed({
  sqs: sqsClient(env('WORKER_SQS_ENDPOINT')),
  queueUrl: env('WORKER_QUEUE_URL'),
  queueArn: env('WORKER_QUEUE_ARN'),
  region: LOCAL_REGION,
  handler: (event) => {
    process.stdout.write(`start ${event.Records.length}\n`);
    return worker(event);
  },
  logger: silentLogger,
  concurrency: Number(env('WORKER_CONCURRENCY')),
  visibilityTimeoutSeconds: Number(env('WORKER_VISIBILITY_TIMEOUT_SECONDS')),
  waitTimeSeconds: 1,
});
feed.on('batch', (outcome) => process.stdout.write(`batch ${outcome.size} ${outcome.failed.length}\n`));
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void feed.stop().then(() => process.exit(0));
});
