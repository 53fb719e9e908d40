import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ConfigError } from '#shared/core/config.ts';
import { silentLogger } from '#shared/core/logger.ts';
import type { RecordStore, TenantDirectory } from '#shared/core/ports.ts';
import { type LocalConfig, loadLocalConfig } from '../config.ts';
import { QUEUE, TABLE } from '../definitions.ts';
import { LOCAL_ENV, localCronofyApiUrl, localTenantsTableName } from '../local-mode.ts';
import { LocalEventBus } from './events.ts';
import { DEFAULT_API_TOKEN, type Gateway, startGateway } from './gateway.ts';
import { buildLocalHandlers } from './handlers.ts';
import { consoleLogger, linePrinter, type Print } from './log.ts';
import type { BatchOutcome } from './poller.ts';
import { requireFreePorts, requireJava } from './prerequisites.ts';
import {
  createQueues,
  createTable,
  createTenantsTable,
  dynamoClient,
  freePort,
  type RunningService,
  sqsClient,
  startDynamoDb,
  startSqs,
} from './services.ts';
import { StreamTail } from './stream.ts';
import { type LocalWorker, localWorker, spawnWorkerProcess, type WorkerProcess } from './worker.ts';

/**
 * The whole system on this machine: DynamoDB Local and the SQS emulator, the table and queues of
 * infra/definitions.ts, the worker fed like Lambda's SQS event source mapping, the stream tail, and the
 * HTTP gateway in front of the same handler code. `npm start` (start.ts) runs it; tests and benchmarks call
 * `startLocalStack` directly on free ports; the reliability suite adds its fault hooks (`faults`).
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
  /** The tenants table; default localTenantsTableName (TENANTS_TABLE_NAME, cronofy-tenants, `<tableName>-tenants`). */
  tenantsTableName?: string;
  /** Overrides the queue's visibility timeout (QUEUE.visibilityTimeoutSeconds, 180 s) so retries come fast. */
  visibilityTimeoutSeconds?: number;
  /** No console output at all (tests, benchmarks). */
  quiet?: boolean;
  /** Configuration; loaded from cdk.json and `env` when omitted. */
  config?: LocalConfig;
  env?: NodeJS.ProcessEnv;
  /** The credential of `auth: 'iam'` routes (`Authorization: Bearer …`). */
  apiToken?: string;
  /** Host names the gateway answers besides 127.0.0.1, localhost and [::1] (`LOCAL_ALLOWED_HOSTS`). */
  allowedHosts?: readonly string[];
  /** Worker pollers; defaults to cronofy.workerMaxConcurrency, capped at LOCAL_MAX_WORKER_CONCURRENCY. */
  workerConcurrency?: number;
  /** Where console lines go (default console.log). */
  print?: Print;
  /**
   * Cronofy's API as the functions reach it: the fake `npm start` runs. Default: CRONOFY_API_URL, else
   * http://127.0.0.1:${CRONOFY_API_PORT:-3100}.
   */
  cronofyApiUrl?: string;
  /** Hooks of the reliability suite, to inject faults and watch the worker; `npm start` sets none. */
  faults?: LocalStackFaults;
  /** The tenants `POST /cronofy/notifications/{tenant_id}` knows (tests); default: the tenants table (their client secrets). */
  tenants?: TenantDirectory;
}

export interface LocalStackFaults {
  /** DynamoDB Local keeps its data in this directory, so `dynamoDbLocal.stop()` then `start()` keeps the table. */
  dynamoDbPath?: string;
  /**
   * The network path from the functions and the worker to the SQS emulator, e.g. a TCP proxy the test can
   * cut: given the emulator's endpoint, the endpoint to use instead, stopped with the stack. The emulator's
   * stored messages survive a cut, as SQS's would. `endpoints.sqs` and `clients.sqs` stay direct.
   */
  sqsPath?: (emulator: string) => Promise<{ endpoint: string; stop(): Promise<void> }>;
  /** Wraps the worker's record store, e.g. to force a bug for some notifications. */
  wrapWorkerStore?: (store: RecordStore) => RecordStore;
  /** Start without the worker's pollers (`worker.start()` starts them, or run `spawnWorker`). */
  workerStopped?: boolean;
  /** Long-poll wait of the worker's receives (default 20 s): short, a stopped worker leaves no receive pending. */
  workerWaitTimeSeconds?: number;
  /** Called with the outcome of every batch of the in-process worker. */
  onBatch?: (outcome: BatchOutcome) => void;
}

export interface LocalStack {
  /** The gateway, e.g. http://127.0.0.1:3000. */
  url: string;
  endpoints: { gateway: string; dynamodb: string; sqs: string };
  tableName: string;
  tenantsTableName: string;
  streamArn: string;
  queueUrl: string;
  dlqUrl: string;
  apiToken: string;
  config: LocalConfig;
  visibilityTimeoutSeconds: number;
  /** The table's stream, record by record. */
  stream: StreamTail;
  /** The downstream events mapped from the stream (shared/events/README.md), also served at `GET /_local/events`. */
  events: LocalEventBus;
  /** The worker's pollers, in this process: stop them, start them again (with other settings). */
  worker: LocalWorker;
  /** The worker in a process of its own (same code, queue and table), killable with SIGKILL; killed by `stop`. */
  spawnWorker(options?: { stepDelayMs?: number }): Promise<WorkerProcess>;
  /** Stop DynamoDB Local and start it again on the same port (with `faults.dynamoDbPath`, its data stays). */
  dynamoDbLocal: { stop(): Promise<void>; start(): Promise<void> };
  /** Clients for the emulators (owned by the stack: destroyed by `stop`). */
  clients: { dynamodb: DynamoDBClient; sqs: SQSClient };
  /** The Java process of DynamoDB Local, for a last-resort kill if this process dies without `stop`. */
  readonly dynamoDbPid: number | undefined;
  /** Where the functions reach Cronofy's API. */
  cronofyApiUrl: string;
  stop(): Promise<void>;
}

export { PortInUseError } from './prerequisites.ts';

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0)
    throw new ConfigError(`${name} must be a whole number of seconds, got ${value}`);
  return value;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const config = options.config ?? loadLocalConfig(options.env ?? process.env);
  const cronofyApiUrl = options.cronofyApiUrl ?? localCronofyApiUrl(options.env ?? process.env);
  const tableName = options.tableName ?? TABLE.localName;
  const tenantsTableName =
    options.tenantsTableName ?? localTenantsTableName(options.env ?? process.env, tableName);
  const quiet = options.quiet ?? false;
  const print = options.print ?? console.log;
  const logger = (source: string) => (quiet ? silentLogger : consoleLogger(source, { print }));
  const faults = options.faults ?? {};
  const dbPath = faults.dynamoDbPath === undefined ? {} : { dbPath: faults.dynamoDbPath };
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
  await requireFreePorts([
    { variable: LOCAL_ENV.dynamoDbPort, port: dynamoDbPort, host: '0.0.0.0' },
    { variable: LOCAL_ENV.sqsPort, port: sqsPort, host: '127.0.0.1' },
    { variable: LOCAL_ENV.port, port, host: '127.0.0.1' },
  ]);

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
    const [dynamoStarted, sqsStarted] = await Promise.allSettled([
      startDynamoDb(dynamoDbPort, dbPath),
      startSqs(sqsPort),
    ]);
    // The DynamoDB Local running now: `dynamoDbLocal` stops it and starts another on the same port.
    let dynamo: RunningService | undefined =
      dynamoStarted.status === 'fulfilled' ? dynamoStarted.value : undefined;
    stops.push(async () => dynamo?.stop());
    if (sqsStarted.status === 'fulfilled') stops.push(() => sqsStarted.value.stop());
    if (dynamoStarted.status === 'rejected') throw dynamoStarted.reason;
    if (sqsStarted.status === 'rejected') throw sqsStarted.reason;
    const dynamoEndpoint = dynamoStarted.value.endpoint;
    const sqs = sqsStarted.value;
    const sqsPath = faults.sqsPath ? await faults.sqsPath(sqs.endpoint) : undefined;
    if (sqsPath) stops.push(() => sqsPath.stop());
    // Where the functions and the worker reach SQS: the emulator, or the path the faults put in between.
    const functionsSqsEndpoint = sqsPath?.endpoint ?? sqs.endpoint;

    const dynamodb = dynamoClient(dynamoEndpoint);
    const sqsc = sqsClient(sqs.endpoint);
    const functionsSqs = sqsPath ? sqsClient(functionsSqsEndpoint) : sqsc;
    stops.push(async () => {
      dynamodb.destroy();
      sqsc.destroy();
      if (functionsSqs !== sqsc) functionsSqs.destroy();
    });
    const { streamArn } = await createTable(dynamodb, tableName);
    await createTenantsTable(dynamodb, tenantsTableName);
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
      sqs: functionsSqs,
      queueUrl: queues.queueUrl,
      dynamo: dynamodb,
      tableName,
      tenantsTableName,
      gatewayUrl: `http://127.0.0.1:${port}`,
      clock: () => new Date(),
      logger,
      ...(faults.wrapWorkerStore ? { wrapWorkerStore: faults.wrapWorkerStore } : {}),
      ...(options.tenants ? { tenants: options.tenants } : {}),
    });

    const stream = StreamTail.start({
      endpoint: dynamoEndpoint,
      streamArn,
      logger: logger('stream'),
      ...(quiet ? {} : { print: linePrinter('stream', print) }),
    });
    stops.push(() => stream.stop());
    const events = new LocalEventBus(stream, quiet ? {} : { print: linePrinter('events', print) });

    const workerConcurrency =
      options.workerConcurrency ?? Math.min(config.config.workerMaxConcurrency, LOCAL_MAX_WORKER_CONCURRENCY);
    const worker = localWorker({
      sqs: functionsSqs,
      queueUrl: queues.queueUrl,
      queueArn,
      handler: handlers.worker,
      logger: logger('poller'),
      concurrency: workerConcurrency,
      visibilityTimeoutSeconds,
      ...(faults.workerWaitTimeSeconds === undefined
        ? {}
        : { waitTimeSeconds: faults.workerWaitTimeSeconds }),
      ...(faults.onBatch ? { onBatch: faults.onBatch } : {}),
    });
    stops.push(() => worker.stop());
    if (!faults.workerStopped) worker.start();

    const apiToken = options.apiToken ?? DEFAULT_API_TOKEN;
    const gateway: Gateway = await startGateway({
      port,
      handlers,
      apiToken,
      ...(options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
      logger: logger('gateway'),
      ...(quiet ? {} : { access: linePrinter('gateway', print) }),
      localRoutes: { 'GET /_local/events': (req, res, query) => events.serve(req, res, query) },
    });
    stops.push(() => gateway.stop());
    // Before the gateway stops (stops run in reverse): open event streams would hold its close up.
    stops.push(async () => events.stop());

    const workerProcesses = new Set<WorkerProcess>();
    stops.push(async () => {
      for (const child of workerProcesses) await child.kill();
    });

    const health = await fetch(`${gateway.url}/healthz`);
    if (health.status !== 200) throw new Error(`GET /healthz answered ${health.status}`);

    return {
      url: gateway.url,
      endpoints: { gateway: gateway.url, dynamodb: dynamoEndpoint, sqs: sqs.endpoint },
      tableName,
      tenantsTableName,
      streamArn,
      queueUrl: queues.queueUrl,
      dlqUrl: queues.dlqUrl,
      apiToken,
      config,
      visibilityTimeoutSeconds,
      stream,
      events,
      worker,
      async spawnWorker(spawnOptions = {}) {
        const child = await spawnWorkerProcess({
          sqsEndpoint: functionsSqsEndpoint,
          queueUrl: queues.queueUrl,
          queueArn,
          dynamoDbEndpoint: dynamoEndpoint,
          tableName,
          retentionDays: config.config.notificationRetentionDays,
          concurrency: workerConcurrency,
          visibilityTimeoutSeconds,
          ...spawnOptions,
        });
        workerProcesses.add(child);
        return child;
      },
      dynamoDbLocal: {
        async stop() {
          await dynamo?.stop();
          dynamo = undefined;
        },
        async start() {
          dynamo ??= await startDynamoDb(dynamoDbPort, dbPath);
        },
      },
      clients: { dynamodb, sqs: sqsc },
      get dynamoDbPid() {
        return dynamo?.pid;
      },
      cronofyApiUrl,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
