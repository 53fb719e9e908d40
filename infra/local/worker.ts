import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from '#shared/core/ports.ts';
import type { WorkerHandler } from './handlers.ts';
import { type BatchOutcome, startWorkerFeed, type WorkerFeed } from './poller.ts';
import { LOCAL_REGION } from './services.ts';

/**
 * The worker of local mode: the worker function fed by pollers as Lambda's SQS event source mapping feeds
 * it (poller.ts). The stack starts it once; the reliability suite also stops it, starts it again with other
 * settings, or runs the same code in a process of its own (worker-process.ts) that it can kill with SIGKILL
 * mid-batch, the way a Lambda execution environment can vanish.
 */

export interface LocalWorkerOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  handler: WorkerHandler;
  logger: Logger;
  concurrency: number;
  /** The visibility timeout asked for on every receive. */
  visibilityTimeoutSeconds: number;
  /** Long-poll wait per ReceiveMessage (default 20 s, as the event source mapping). */
  waitTimeSeconds?: number;
  /** Called with the outcome of every batch. */
  onBatch?: (outcome: BatchOutcome) => void;
}

export interface WorkerStartOptions {
  visibilityTimeoutSeconds?: number;
  /**
   * Release the messages a batch failed at once (ChangeMessageVisibility 0), so a poison message reaches the
   * DLQ in seconds while healthy messages keep a visibility timeout longer than any batch.
   */
  releaseFailuresAtOnce?: boolean;
}

export interface LocalWorker {
  /** Start the pollers (a no-op while they run). */
  start(options?: WorkerStartOptions): void;
  /** Stop the pollers; batches in flight finish first. */
  stop(): Promise<void>;
}

export function localWorker(options: LocalWorkerOptions): LocalWorker {
  let feed: WorkerFeed | undefined;
  const releasing: WorkerHandler = async (event, context) => {
    const response = await options.handler(event, context);
    for (const failure of response?.batchItemFailures ?? []) {
      const record = event.Records.find((r) => r.messageId === failure.itemIdentifier);
      if (!record) continue;
      await options.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: options.queueUrl,
          ReceiptHandle: record.receiptHandle,
          VisibilityTimeout: 0,
        }),
      );
    }
    return response;
  };
  return {
    start(start = {}) {
      if (feed) return;
      feed = startWorkerFeed({
        sqs: options.sqs,
        queueUrl: options.queueUrl,
        queueArn: options.queueArn,
        region: LOCAL_REGION,
        handler: start.releaseFailuresAtOnce ? releasing : options.handler,
        logger: options.logger,
        concurrency: options.concurrency,
        visibilityTimeoutSeconds: start.visibilityTimeoutSeconds ?? options.visibilityTimeoutSeconds,
        ...(options.waitTimeSeconds === undefined ? {} : { waitTimeSeconds: options.waitTimeSeconds }),
      });
      const { onBatch } = options;
      if (onBatch) feed.on('batch', onBatch);
    },
    async stop() {
      const running = feed;
      feed = undefined;
      await running?.stop();
    },
  };
}

/** What the worker process needs: the same queue and table as the stack's worker, reached the same way. */
export interface WorkerProcessOptions {
  sqsEndpoint: string;
  queueUrl: string;
  queueArn: string;
  dynamoDbEndpoint: string;
  tableName: string;
  retentionDays: number;
  concurrency: number;
  visibilityTimeoutSeconds: number;
  /** Each store call waits this long first, so a kill lands inside batches (and between their writes). */
  stepDelayMs?: number;
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Batches the child has handed to the function, and finished. */
  started: number;
  batches: number;
  /** Resolves once the child has started (`start`) or finished (`batch`) `count` batches. */
  reached(event: 'start' | 'batch', count: number, timeoutMs: number): Promise<void>;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<void>;
}

const WORKER_SCRIPT = fileURLToPath(new URL('./worker-process.ts', import.meta.url));

/** Start the worker in a process of its own; resolves once it polls. */
export async function spawnWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--no-warnings', '--import', 'tsx', WORKER_SCRIPT], {
    env: {
      ...process.env,
      WORKER_SQS_ENDPOINT: options.sqsEndpoint,
      WORKER_QUEUE_URL: options.queueUrl,
      WORKER_QUEUE_ARN: options.queueArn,
      WORKER_DYNAMODB_ENDPOINT: options.dynamoDbEndpoint,
      WORKER_TABLE_NAME: options.tableName,
      WORKER_RETENTION_DAYS: String(options.retentionDays),
      WORKER_VISIBILITY_TIMEOUT_SECONDS: String(options.visibilityTimeoutSeconds),
      WORKER_CONCURRENCY: String(options.concurrency),
      WORKER_STEP_DELAY_MS: String(options.stepDelayMs ?? 0),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
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
            reject(new Error(`worker process: ${counted(event)}/${wanted} × ${event} in ${timeoutMs} ms`)),
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
}
