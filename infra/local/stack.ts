import { createServer } from 'node:net';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ConfigError } from '#shared/core/config.ts';
import { silentLogger } from '#shared/core/logger.ts';
import { type LocalConfig, loadLocalConfig } from '../config.ts';
import { QUEUE, TABLE } from '../definitions.ts';
import { LOCAL_ENV, LOCAL_REGION, localCronofyApiUrl } from '../local-mode.ts';
import { DEFAULT_API_TOKEN, type Gateway, startGateway } from './gateway.ts';
import { buildLocalHandlers } from './handlers.ts';
import { consoleLogger, linePrinter, type Print } from './log.ts';
import { startWorkerFeed, type WorkerFeed } from './poller.ts';
import { leftoverDynamoDbMessage, requireJava } from './prerequisites.ts';
import {
  createQueues,
  createTable,
  dynamoClient,
  freePort,
  type RunningService,
  sqsClient,
  startDynamoDb,
  startSqs,
} from './services.ts';
import { StreamTail } from './stream.ts';

/**
 * The whole system on this machine: DynamoDB Local and the SQS emulator, the table and queues of
 * infra/definitions.ts, the worker fed like Lambda's SQS event source mapping, the stream tail, and the
 * HTTP gateway in front of the same handler code. `npm start` (start.ts) runs it; tests and benchmarks call
 * `startLocalStack` directly on free ports.
 *
 * DynamoDB Local has no bind-address option: it listens on every interface of this machine. Every server
 * of ours (gateway, SQS emulator) binds 127.0.0.1 only.
 */

/** Local mode runs fewer worker pollers than AWS would allow: one machine, one DynamoDB Local. */
export const LOCAL_MAX_WORKER_CONCURRENCY = 4;

export interface LocalStackOptions {
  /** Gateway port; a free one when omitted. */
  port?: number;
  dynamoDbPort?: number;
  sqsPort?: number;
  tableName?: string;
  /** Overrides the queue's visibility timeout (QUEUE.visibilityTimeoutSeconds, 180 s) so retries come fast. */
  visibilityTimeoutSeconds?: number;
  /** No console output at all (tests, benchmarks). */
  quiet?: boolean;
  /** Configuration; loaded from cdk.json and `env` when omitted. */
  config?: LocalConfig;
  env?: NodeJS.ProcessEnv;
  /** The credential of `auth: 'iam'` routes (`Authorization: Bearer …`). */
  apiToken?: string;
  /** Worker pollers; defaults to cronofy.workerMaxConcurrency, capped at LOCAL_MAX_WORKER_CONCURRENCY. */
  workerConcurrency?: number;
  /** Where console lines go (default console.log). */
  print?: Print;
  /**
   * Cronofy's API as the functions reach it: the fake `npm start` runs. Default: CRONOFY_API_URL, else
   * http://127.0.0.1:${CRONOFY_API_PORT:-3100}.
   */
  cronofyApiUrl?: string;
}

export interface LocalStack {
  /** The gateway, e.g. http://127.0.0.1:3000. */
  url: string;
  endpoints: { gateway: string; dynamodb: string; sqs: string };
  tableName: string;
  streamArn: string;
  queueUrl: string;
  dlqUrl: string;
  apiToken: string;
  config: LocalConfig;
  visibilityTimeoutSeconds: number;
  /** The table's stream, record by record. */
  stream: StreamTail;
  worker: WorkerFeed;
  /** Clients for the emulators (owned by the stack: destroyed by `stop`). */
  clients: { dynamodb: DynamoDBClient; sqs: SQSClient };
  /** The Java process of DynamoDB Local, for a last-resort kill if this process dies without `stop`. */
  dynamoDbPid: number | undefined;
  /** Where the functions reach Cronofy's API. */
  cronofyApiUrl: string;
  stop(): Promise<void>;
}

export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
}

/** Fail before starting anything when a port is taken, naming the variable that moves it. */
async function assertPortFree(port: number, host: string, variable: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE' || error.code === 'EACCES'
          ? new PortInUseError(
              `Port ${port} (${variable}) is already in use on this machine. Stop whatever uses it, or choose another port: ${variable}=${port + 1} npm start`,
            )
          : error,
      );
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0)
    throw new ConfigError(`${name} must be a whole number of seconds, got ${value}`);
  return value;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const config = options.config ?? loadLocalConfig(options.env ?? process.env);
  const cronofyApiUrl = options.cronofyApiUrl ?? localCronofyApiUrl(options.env ?? process.env);
  const tableName = options.tableName ?? TABLE.localName;
  const quiet = options.quiet ?? false;
  const print = options.print ?? console.log;
  const logger = (source: string) => (quiet ? silentLogger : consoleLogger(source, { print }));
  const visibilityTimeoutSeconds = positiveInteger(
    options.visibilityTimeoutSeconds ?? QUEUE.visibilityTimeoutSeconds,
    'the visibility timeout',
  );

  const [port, dynamoDbPort, sqsPort] = await Promise.all([
    options.port ?? freePort(),
    options.dynamoDbPort ?? freePort(),
    options.sqsPort ?? freePort(),
  ]);
  // Without Java, DynamoDB Local cannot start: say how to install it before anything else.
  requireJava(options.env ?? process.env);
  // DynamoDB Local binds every interface, so that is where its port must be free.
  try {
    await assertPortFree(dynamoDbPort, '0.0.0.0', LOCAL_ENV.dynamoDbPort);
  } catch (error) {
    const leftover =
      error instanceof PortInUseError ? await leftoverDynamoDbMessage(dynamoDbPort) : undefined;
    throw leftover ? new PortInUseError(leftover) : error;
  }
  await assertPortFree(sqsPort, '127.0.0.1', LOCAL_ENV.sqsPort);
  await assertPortFree(port, '127.0.0.1', LOCAL_ENV.port);

  // Everything started so far, stopped in reverse order on failure or on `stop`.
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch {
        // keep stopping the rest: a child process must never be left behind
      }
    }
  };

  try {
    // allSettled, not all: when one fails the other must still be registered for stopping (no orphan Java).
    const started = await Promise.allSettled([startDynamoDb(dynamoDbPort), startSqs(sqsPort)]);
    for (const result of started) {
      if (result.status === 'fulfilled') stops.push(() => result.value.stop());
    }
    const [dynamo, sqs] = started.map((result) => {
      if (result.status === 'rejected') throw result.reason;
      return result.value;
    }) as [RunningService, RunningService];

    const dynamodb = dynamoClient(dynamo.endpoint);
    const sqsc = sqsClient(sqs.endpoint);
    stops.push(async () => {
      dynamodb.destroy();
      sqsc.destroy();
    });
    const { streamArn } = await createTable(dynamodb, tableName);
    const queues = await createQueues(sqsc);
    if (visibilityTimeoutSeconds !== QUEUE.visibilityTimeoutSeconds) {
      await sqsc.send(
        new SetQueueAttributesCommand({
          QueueUrl: queues.queueUrl,
          Attributes: { VisibilityTimeout: String(visibilityTimeoutSeconds) },
        }),
      );
    }
    const queueArn =
      (
        await sqsc.send(
          new GetQueueAttributesCommand({ QueueUrl: queues.queueUrl, AttributeNames: ['QueueArn'] }),
        )
      ).Attributes?.QueueArn ?? '';

    const handlers = buildLocalHandlers({
      cronofyApiUrl,
      config,
      sqs: sqsc,
      queueUrl: queues.queueUrl,
      dynamo: dynamodb,
      tableName,
      clock: () => new Date(),
      logger,
    });

    const stream = StreamTail.start({
      endpoint: dynamo.endpoint,
      streamArn,
      logger: logger('stream'),
      ...(quiet ? {} : { print: linePrinter('stream', print) }),
    });
    stops.push(() => stream.stop());

    const worker = startWorkerFeed({
      sqs: sqsc,
      queueUrl: queues.queueUrl,
      queueArn,
      region: LOCAL_REGION,
      handler: handlers.worker,
      logger: logger('poller'),
      concurrency:
        options.workerConcurrency ??
        Math.min(config.config.workerMaxConcurrency, LOCAL_MAX_WORKER_CONCURRENCY),
      visibilityTimeoutSeconds,
    });
    stops.push(() => worker.stop());

    const apiToken = options.apiToken ?? DEFAULT_API_TOKEN;
    const gateway: Gateway = await startGateway({
      port,
      handlers,
      apiToken,
      logger: logger('gateway'),
      ...(quiet ? {} : { access: linePrinter('gateway', print) }),
    });
    stops.push(() => gateway.stop());

    const health = await fetch(`${gateway.url}/healthz`);
    if (health.status !== 200) throw new Error(`GET /healthz answered ${health.status}`);

    return {
      url: gateway.url,
      endpoints: { gateway: gateway.url, dynamodb: dynamo.endpoint, sqs: sqs.endpoint },
      tableName,
      streamArn,
      queueUrl: queues.queueUrl,
      dlqUrl: queues.dlqUrl,
      apiToken,
      config,
      visibilityTimeoutSeconds,
      stream,
      worker,
      clients: { dynamodb, sqs: sqsc },
      dynamoDbPid: dynamo.pid,
      cronofyApiUrl,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
