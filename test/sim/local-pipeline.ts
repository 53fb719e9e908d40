import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  type QueueAttributeName,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { silentLogger } from '#shared/core/logger.ts';
import type { Logger, RecordStore } from '#shared/core/ports.ts';
import { makeHandler as makeWorkerHandler } from '../../functions/worker/handler.ts';
import { QUEUE } from '../../infra/definitions.ts';
import { loadLocalConfig } from '../../infra/local/config.ts';
import { type Gateway, startGateway } from '../../infra/local/gateway.ts';
import { buildLocalHandlers, type WorkerHandler } from '../../infra/local/handlers.ts';
import { type BatchOutcome, startWorkerFeed, type WorkerFeed } from '../../infra/local/poller.ts';
import {
  createQueues,
  createTable,
  dynamoClient,
  freePort,
  LOCAL_REGION,
  type RunningService,
  sqsClient,
  startDynamoDb,
  startSqs,
} from '../../infra/local/services.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

/**
 * Local mode's pieces (infra/local: gateway, handlers, poller, services) composed with the fault hooks the
 * reliability suite needs and `startLocalStack` does not offer:
 *
 * - the SQS emulator behind a TCP proxy that can be cut (for ingest and poller alike), which is what an
 *   SQS outage looks like to the SDK; the emulator's stored messages survive, as SQS's would;
 * - DynamoDB Local on disk (`dbPath`), so it can be stopped and started again with its data;
 * - the worker's record store wrapped by the test (a forced handler bug), and the worker stoppable or run in
 *   a child process that can be killed with SIGKILL mid-batch.
 */

export interface PipelineOptions {
  /** Directory for DynamoDB Local's data, so a restart keeps the table. */
  dbPath: string;
  /** Client secrets the ingest function accepts (default: local mode's). */
  secrets?: string[];
  /** Visibility timeout the poller asks for on every receive: how soon a failed message comes back. */
  visibilityTimeoutSeconds: number;
  workerConcurrency?: number;
  /** Wrap the worker's record store, e.g. to force a bug for some notifications. */
  wrapStore?: (store: RecordStore) => RecordStore;
  /** Start without the in-process worker (start it with `startWorker`, or run `spawnWorker`). */
  workerStopped?: boolean;
  logger?: (name: string) => Logger;
}

export interface Pipeline {
  notificationsUrl: string;
  tableName: string;
  queueUrl: string;
  dlqUrl: string;
  streamArn: string;
  dynamodbEndpoint: string;
  /** The SQS emulator itself (not through the proxy): for the test's own inspection. */
  sqsEndpoint: string;
  /** Direct clients for the test: DynamoDB (same port across restarts) and SQS. */
  clients: { dynamodb: DynamoDBClient; sqs: SQSClient };
  /** Cut and restore the network path to the SQS emulator (ingest and worker). */
  sqsOutage: { down(): void; up(): void };
  /** Stop DynamoDB Local (its data stays on disk) and start it again on the same port. */
  dynamodb: { stop(): Promise<void>; start(): Promise<void> };
  /** Batch outcomes of the in-process worker since start. */
  batches: BatchOutcome[];
  /**
   * Start the in-process worker, optionally with another visibility timeout, or releasing the messages a
   * batch failed at once (ChangeMessageVisibility 0) so a poison message reaches the DLQ in seconds while
   * healthy messages keep a visibility timeout longer than any batch.
   */
  startWorker(options?: WorkerStartOptions): void;
  stopWorker(): Promise<void>;
  /** Run the worker in its own process (same code, same queue and table), killable with SIGKILL. */
  spawnWorker(options?: { stepDelayMs?: number }): Promise<WorkerProcess>;
  /** Approximate message counts: visible and in flight on the queue, and on the DLQ. */
  queueDepth(): Promise<{ visible: number; inFlight: number; dlq: number }>;
  stop(): Promise<void>;
}

export interface WorkerStartOptions {
  visibilityTimeoutSeconds?: number;
  releaseFailuresAtOnce?: boolean;
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Batches the child has handed to the function, and finished. */
  started: number;
  batches: number;
  /** Resolves once the child has started (`start`) or finished (`batch`) `count` batches. */
  reached(event: 'start' | 'batch', count: number, timeoutMs: number): Promise<void>;
  kill(): Promise<void>;
}

const WORKER_SCRIPT = fileURLToPath(new URL('./worker-process.ts', import.meta.url));

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const logger = options.logger ?? (() => silentLogger);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
  };
  try {
    const [dynamoPort, sqsPort, gatewayPort] = await Promise.all([freePort(), freePort(), freePort()]);
    let dynamo: RunningService | undefined = await startDynamoDb(dynamoPort, { dbPath: options.dbPath });
    stops.push(async () => dynamo?.stop());
    const sqs = await startSqs(sqsPort);
    stops.push(() => sqs.stop());
    const proxy = await new TcpProxy(sqs.port).start();
    stops.push(() => proxy.stop());

    const ddb = dynamoClient(dynamo.endpoint);
    const direct = sqsClient(sqs.endpoint);
    const viaProxy = sqsClient(proxy.endpoint);
    stops.push(async () => {
      ddb.destroy();
      direct.destroy();
      viaProxy.destroy();
    });
    const tableName = 'reliability-records';
    const { streamArn } = await createTable(ddb, tableName);
    const queues = await createQueues(direct);
    const queueArn =
      (
        await direct.send(
          new GetQueueAttributesCommand({ QueueUrl: queues.queueUrl, AttributeNames: ['QueueArn'] }),
        )
      ).Attributes?.QueueArn ?? '';

    const local = loadLocalConfig(process.env);
    const config = options.secrets
      ? { ...local, secrets: { ...local.secrets, clientSecrets: options.secrets } }
      : local;
    const handlers = buildLocalHandlers({
      config,
      sqs: viaProxy,
      queueUrl: queues.queueUrl,
      dynamo: ddb,
      tableName,
      clock: () => new Date(),
      logger,
    });
    const store = new DynamoRecordStore(ddb, tableName);
    const worker: WorkerHandler = makeWorkerHandler({
      store: options.wrapStore ? options.wrapStore(store) : store,
      clock: () => new Date(),
      logger: logger('worker'),
      retentionDays: config.config.notificationRetentionDays,
    });

    const batches: BatchOutcome[] = [];
    let feed: WorkerFeed | undefined;
    const releasing: WorkerHandler = async (event, context) => {
      const response = await worker(event, context);
      for (const failure of response?.batchItemFailures ?? []) {
        const record = event.Records.find((r) => r.messageId === failure.itemIdentifier);
        if (!record) continue;
        await viaProxy.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: queues.queueUrl,
            ReceiptHandle: record.receiptHandle,
            VisibilityTimeout: 0,
          }),
        );
      }
      return response;
    };
    const startWorker = (start: WorkerStartOptions = {}) => {
      if (feed) return;
      feed = startWorkerFeed({
        sqs: viaProxy,
        queueUrl: queues.queueUrl,
        queueArn,
        region: LOCAL_REGION,
        handler: start.releaseFailuresAtOnce ? releasing : worker,
        logger: logger('poller'),
        concurrency: options.workerConcurrency ?? 2,
        visibilityTimeoutSeconds: start.visibilityTimeoutSeconds ?? options.visibilityTimeoutSeconds,
        waitTimeSeconds: 1,
      });
      feed.on('batch', (outcome) => batches.push(outcome));
    };
    const stopWorker = async () => {
      const running = feed;
      feed = undefined;
      await running?.stop();
    };
    stops.push(stopWorker);
    if (!options.workerStopped) startWorker();

    const gateway: Gateway = await startGateway({
      port: gatewayPort,
      handlers,
      apiToken: 'reliability-suite',
      logger: logger('gateway'),
    });
    stops.push(() => gateway.stop());

    const children = new Set<ChildProcess>();
    stops.push(async () => {
      for (const child of children) child.kill('SIGKILL');
    });

    const count = async (url: string, attribute: QueueAttributeName) =>
      Number(
        (await direct.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [attribute] })))
          .Attributes?.[attribute] ?? 0,
      );

    return {
      notificationsUrl: `${gateway.url}/cronofy/notifications`,
      tableName,
      queueUrl: queues.queueUrl,
      dlqUrl: queues.dlqUrl,
      streamArn,
      dynamodbEndpoint: dynamo.endpoint,
      sqsEndpoint: sqs.endpoint,
      clients: { dynamodb: ddb, sqs: direct },
      sqsOutage: { down: () => proxy.down(), up: () => proxy.restore() },
      dynamodb: {
        async stop() {
          await dynamo?.stop();
          dynamo = undefined;
        },
        async start() {
          dynamo ??= await startDynamoDb(dynamoPort, { dbPath: options.dbPath });
        },
      },
      batches,
      startWorker,
      stopWorker,
      async spawnWorker(spawnOptions = {}) {
        const child = spawn(process.execPath, ['--no-warnings', '--import', 'tsx', WORKER_SCRIPT], {
          env: {
            ...process.env,
            SIM_SQS_ENDPOINT: proxy.endpoint,
            SIM_QUEUE_URL: queues.queueUrl,
            SIM_QUEUE_ARN: queueArn,
            SIM_DYNAMODB_ENDPOINT: `http://127.0.0.1:${dynamoPort}`,
            SIM_TABLE_NAME: tableName,
            SIM_VISIBILITY_TIMEOUT_SECONDS: String(options.visibilityTimeoutSeconds),
            SIM_WORKER_CONCURRENCY: String(options.workerConcurrency ?? 2),
            SIM_STEP_DELAY_MS: String(spawnOptions.stepDelayMs ?? 0),
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        children.add(child);
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        const waiters: { event: 'start' | 'batch'; count: number; resolve: () => void }[] = [];
        const counted = (event: 'start' | 'batch') => (event === 'start' ? handle.started : handle.batches);
        const handle: WorkerProcess = {
          child,
          started: 0,
          batches: 0,
          reached(event, wanted, timeoutMs) {
            if (counted(event) >= wanted) return Promise.resolve();
            return new Promise<void>((resolve, reject) => {
              const timer = setTimeout(
                () =>
                  reject(
                    new Error(`worker process: ${counted(event)}/${wanted} × ${event} in ${timeoutMs} ms`),
                  ),
                timeoutMs,
              );
              waiters.push({
                event,
                count: wanted,
                resolve: () => {
                  clearTimeout(timer);
                  resolve();
                },
              });
            });
          },
          async kill() {
            child.kill('SIGKILL');
            await exited;
            children.delete(child);
          },
        };
        const ready = new Promise<void>((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`worker process exited early (${code})`)));
          createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
            if (line === 'ready') resolve();
            if (line.startsWith('start')) handle.started++;
            if (line.startsWith('batch')) handle.batches++;
            for (const waiter of waiters.filter((w) => counted(w.event) >= w.count)) {
              waiters.splice(waiters.indexOf(waiter), 1);
              waiter.resolve();
            }
          });
        });
        await ready;
        return handle;
      },
      async queueDepth() {
        const [visible, inFlight, dlq] = await Promise.all([
          count(queues.queueUrl, 'ApproximateNumberOfMessages'),
          count(queues.queueUrl, 'ApproximateNumberOfMessagesNotVisible'),
          count(queues.dlqUrl, 'ApproximateNumberOfMessages'),
        ]);
        return { visible, inFlight, dlq };
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The queue's configured receive count before a message moves to the DLQ (infra/definitions.ts). */
export const MAX_RECEIVE_COUNT = QUEUE.maxReceiveCount;
