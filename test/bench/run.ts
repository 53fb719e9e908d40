import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { FUNCTIONS, WORKER } from '../../infra/definitions.ts';
import { JavaMissingError, requireJava } from '../../infra/local/prerequisites.ts';
import { startLocalAws } from '../support/local-aws.ts';
import { type Bundle, buildAll } from './bundles.ts';
import {
  type ColdSummary,
  measureColdStarts,
  pairedRatio,
  workerColdEnv,
  writeRunner,
} from './cold-start.ts';
import { CORPUS, measureCompression, recordUnits } from './compression.ts';
import {
  ASSUMPTIONS,
  billedMs,
  type CostBreakdown,
  costPerMillion,
  type DesignInputs,
  eventsPath,
  PRICES,
  tableClassBreakEven,
} from './cost.ts';
import { measureDynamoOps } from './dynamo-ops.ts';
import type { E2eOptions, E2eResult, StackLike } from './e2e.ts';
import { startFakeSecretsManager } from './fake-secrets-manager.ts';
import { measureIngestWarm } from './ingest-warm.ts';
import { findProcess } from './process-cpu.ts';
import { measureRecordGrowth } from './record-growth.ts';
import { round } from './stats.ts';
import {
  contractItemsJson,
  measureWorker,
  measureWriteAccounting,
  type WorkerOptions,
  type WriteAccounting,
  warmUpEmulator,
} from './worker-throughput.ts';
import { accessLogLine, apiEvent, envelopeOf, notification, SECRETS, sqsEvent } from './workload.ts';

/**
 * `npm run bench [-- --json FILE] [-- --quick]`: every figure of the performance section, each a ratio
 * against a floor or a peer measured in this same run. See test/bench/README.md for what each one means.
 */

const args = process.argv.slice(2);
const jsonFile = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
const quick = args.includes('--quick');
const started = Date.now();
const log = (message: string) =>
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${message}\n`);

const SIZES = quick
  ? {
      emulatorWarmup: 100,
      growthNotifications: 100,
      accountingNotifications: 40,
      coldRepetitions: 3,
      ingest: { rounds: 3, requestsPerRound: 100, warmup: 100 },
      worker: {
        lanes: 8,
        batchSize: WORKER.batchSize,
        notifications: 80,
        repetitions: 2,
        warmup: 40,
        latencyBatches: 3,
      },
      e2e: {
        repetitions: 1,
        count: 100,
        senders: 16,
        pacedShare: 0.6,
        pacedSeconds: 1,
        warmup: 50,
        timeoutMs: 60_000,
      },
    }
  : {
      emulatorWarmup: 1000,
      growthNotifications: 10_000,
      accountingNotifications: 200,
      coldRepetitions: 11,
      ingest: { rounds: 7, requestsPerRound: 600, warmup: 500 },
      worker: {
        lanes: 8,
        batchSize: WORKER.batchSize,
        notifications: 300,
        repetitions: 5,
        warmup: 200,
        latencyBatches: 20,
      },
      e2e: {
        repetitions: 3,
        count: 500,
        senders: 16,
        pacedShare: 0.6,
        pacedSeconds: 3,
        warmup: 300,
        timeoutMs: 120_000,
      },
    };

const ok202 = (result: unknown) => {
  if ((result as { statusCode?: number })?.statusCode !== 202)
    throw new Error(`expected 202, got ${JSON.stringify(result)}`);
};
const okBatch = (result: unknown) => {
  const failures = (result as { batchItemFailures?: unknown[] })?.batchItemFailures;
  if (!Array.isArray(failures) || failures.length > 0)
    throw new Error(`expected no failures, got ${JSON.stringify(result)}`);
};

async function measureLocal(dir: string) {
  const aws = await startLocalAws(`bench-cold-${process.pid}`);
  log('building bundles (esbuild, as the stack builds them) while DynamoDB Local warms up');
  const [bundles] = await Promise.all([
    buildAll(dir),
    warmUpEmulator(aws.dynamo.endpoint, SIZES.emulatorWarmup, SIZES.worker),
  ]);
  for (const name of [
    'ingest',
    'worker',
    'floor-ingest',
    'contract-floor-ingest',
    'floor-worker',
    'powertools-worker',
  ] as const) {
    if (bundles[name].error) throw new Error(`bundle ${name} failed: ${bundles[name].error}`);
  }
  const secrets = await startFakeSecretsManager(
    JSON.stringify({ client_secrets: SECRETS, embed_public_key: 'EMB_bench', embed_secret: 'ESK_bench' }),
  );
  try {
    const idempotencyTable = `bench-cold-idempotency-${process.pid}`;
    await aws.ddb.send(
      new CreateTableCommand({
        TableName: idempotencyTable,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const sqsEnv = { AWS_ENDPOINT_URL_SQS: aws.sqs.endpoint, QUEUE_URL: aws.queues.queueUrl };
    const ddbEnv = workerColdEnv(aws);
    const secretEnv = {
      SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      SECRETS_CACHE_SECONDS: '300',
      // The tenant notification URLs' directory (built at cold start, read only for a tenant URL).
      TENANTS_TABLE_NAME: 'bench-tenants',
      TENANTS_KEY_ARN: 'arn:aws:kms:us-east-1:000000000000:key/bench',
    };
    let message = 0;
    const ingestEvent = () => apiEvent(notification('cold', 4096).body);
    const workerEvent = () =>
      sqsEvent([{ messageId: `cold-${++message}`, body: envelopeOf(notification('cold', 4096)) }]);

    // The contract floor gets the two items ours would write, already in DynamoDB JSON.
    const contractEvent = () => {
      const m = { messageId: `cold-${++message}`, body: envelopeOf(notification('cold', 4096)) };
      return sqsEvent([{ messageId: m.messageId, body: contractItemsJson(m) }]);
    };

    log('cold starts (fresh node per run)');
    const cold = await measureColdStarts(
      writeRunner(dir),
      [
        {
          name: 'ingest',
          bundle: bundles.ingest.file,
          env: { ...sqsEnv, ...secretEnv },
          event: ingestEvent,
          check: ok202,
        },
        {
          name: 'floor-ingest',
          bundle: bundles['floor-ingest'].file,
          env: { ...sqsEnv, FLOOR_SECRETS: SECRETS.join(',') },
          event: ingestEvent,
          check: ok202,
        },
        {
          name: 'contract-floor-ingest',
          bundle: bundles['contract-floor-ingest'].file,
          env: { ...sqsEnv, ...secretEnv },
          event: ingestEvent,
          check: ok202,
        },
        { name: 'worker', bundle: bundles.worker.file, env: ddbEnv, event: workerEvent, check: okBatch },
        {
          name: 'floor-worker',
          bundle: bundles['floor-worker'].file,
          env: ddbEnv,
          event: workerEvent,
          check: okBatch,
        },
        {
          name: 'contract-floor-worker',
          bundle: bundles['floor-worker'].file,
          env: { ...ddbEnv, FLOOR_WRITES: 'items' },
          event: contractEvent,
          check: okBatch,
        },
        {
          name: 'powertools-worker',
          bundle: bundles['powertools-worker'].file,
          env: { ...ddbEnv, IDEMPOTENCY_TABLE_NAME: idempotencyTable },
          event: workerEvent,
          check: okBatch,
        },
      ],
      SIZES.coldRepetitions,
    );

    log('warm ingest (ours and the floor, request by request)');
    const ingest = await measureIngestWarm(aws.sqs.endpoint, aws.queues.queueUrl, SIZES.ingest);

    log('worker throughput (ours, floor, contract floor, Powertools peer)');
    const dynamoPid = findProcess(['-port', String(aws.dynamo.port)]);
    const worker = await measureWorker(aws.dynamo.endpoint, SIZES.worker as WorkerOptions, dynamoPid);
    log('DynamoDB Local CPU by write shape (ours and the contract floor, with and without the index)');
    const dynamoOps = await measureDynamoOps(aws.dynamo.endpoint, dynamoPid, quick ? 100 : 400);
    log('write accounting, worst case: 4 KB bodies padded with captured data (copied into the state record)');
    const worstCaseBodies = await measureWriteAccounting(
      aws.dynamo.endpoint,
      4096,
      SIZES.accountingNotifications,
      'captured-data',
    );
    return { bundles, cold, ingest, worker, worstCaseBodies, dynamoOps };
  } finally {
    await secrets.stop();
    await aws.stop();
  }
}

async function measureLocalMode(): Promise<{ result?: E2eResult; error?: string }> {
  // Loaded lazily and by a computed path, so the rest of the benchmark runs (and type-checks) without it.
  const modulePath = '../../infra/local/start.ts';
  let startLocalStack: (
    options: Record<string, unknown>,
  ) => Promise<StackLike & { stop(): Promise<void>; config: { config: { workerMaxConcurrency: number } } }>;
  let maxConcurrency = 4;
  try {
    const local = await import(modulePath);
    startLocalStack = local.startLocalStack;
    const stackModule = await import('../../infra/local/stack.ts' as string).catch(() => ({}));
    maxConcurrency =
      (stackModule as { LOCAL_MAX_WORKER_CONCURRENCY?: number }).LOCAL_MAX_WORKER_CONCURRENCY ??
      maxConcurrency;
  } catch (error) {
    return { error: `local mode unavailable: ${(error as Error).message}` };
  }
  log('end to end through local mode');
  const stack = await startLocalStack({
    quiet: true,
    env: { ...process.env, CRONOFY_CLIENT_SECRETS: SECRETS.join(',') },
  });
  try {
    const { measureE2e } = await import('./e2e.ts');
    const concurrency = Math.min(stack.config.config.workerMaxConcurrency, maxConcurrency);
    return { result: await measureE2e(stack, SIZES.e2e as E2eOptions, concurrency) };
  } finally {
    await stack.stop();
  }
}

/**
 * The end-to-end pass runs the whole local stack in this process: a socket error it does not handle (seen
 * once on a loaded machine, `ECONNRESET`) must cost that pass its figures, not the run all the others.
 */
async function survivingSocketErrors(
  measure: () => Promise<{ result?: E2eResult; error?: string }>,
): Promise<{ result?: E2eResult; error?: string }> {
  let onError: ((error: Error) => void) | undefined;
  const failed = new Promise<{ error: string }>((resolve) => {
    onError = (error) => resolve({ error: `end to end failed: ${error.message}` });
    process.on('uncaughtException', onError);
  });
  try {
    return await Promise.race([measure(), failed]);
  } finally {
    if (onError) process.off('uncaughtException', onError);
  }
}

/** Write units and round trips of the 1st and the Nth notification to one record (they must be equal). */
async function measureGrowth() {
  const aws = await startLocalAws(`bench-growth-${process.pid}`);
  try {
    log(`record growth: ${SIZES.growthNotifications} notifications to one record`);
    return await measureRecordGrowth(aws.dynamo.endpoint, SIZES.growthNotifications);
  } finally {
    await aws.stop();
  }
}

type WriteFigures = Pick<
  WriteAccounting['variants']['ours'],
  | 'writeUnitsPerNotification'
  | 'byOperationPerNotification'
  | 'storedItemsPerNotification'
  | 'storedBytesPerNotification'
  | 'logBytesPerNotification'
>;

/**
 * Both designs priced from this run's measurements. `writes` are the DynamoDB, storage and log figures
 * (the throughput run's, or an accounting pass on another payload size); durations always come from the
 * throughput run.
 */
function costs(
  ingest: Awaited<ReturnType<typeof measureIngestWarm>>,
  worker: Awaited<ReturnType<typeof measureWorker>>,
  writes: {
    ours: WriteFigures;
    powertools: WriteFigures;
    messageBytes: number;
    bodyBytes: number;
    stateItemBytes: number;
  } = {
    ours: worker.variants.ours,
    powertools: worker.variants.powertools,
    messageBytes: worker.messageBytes,
    bodyBytes: worker.bodyBytes,
    stateItemBytes: worker.contractItemBytes.state,
  },
) {
  const ours = writes.ours;
  const peer = writes.powertools;
  const ingestInputs = {
    billedMs: billedMs(ingest.oursP50Ms),
    memoryMb: FUNCTIONS.ingest.memoryMb,
    logBytesPerNotification: ingest.logBytesPerRequest,
  };
  // Every notification of the workload is applied to its own new scheduling request: one visible state
  // change, so one event, in both designs (the common design's worker also writes state once per
  // notification). The event is the state record's stream record: at most both images.
  const events = { perNotification: 1, bytesPerEvent: 2 * writes.stateItemBytes + 512 };
  // Ours: the JSON log format, each function at its system log level (infra/definitions.ts).
  const ourPlatformBytes = (level: string) =>
    level === 'WARN' ? ASSUMPTIONS.platformLogBytes.warn : ASSUMPTIONS.platformLogBytes.json;
  const oursDesign: DesignInputs = {
    name: 'ours: HTTP API, ingest, SQS, worker (conditional writes), DynamoDB',
    api: 'http',
    accessLogBytesPerRequest: Buffer.byteLength(accessLogLine()) + 1, // and its newline
    ingest: {
      ...ingestInputs,
      platformLogBytesPerInvocation: ourPlatformBytes(FUNCTIONS.ingest.systemLogLevel),
    },
    worker: {
      batchSize: worker.batchSize,
      billedMsPerBatch: billedMs(worker.variants.ours.batchMs.p50),
      memoryMb: FUNCTIONS.worker.memoryMb,
      logBytesPerNotification: ours.logBytesPerNotification,
      platformLogBytesPerInvocation: ourPlatformBytes(FUNCTIONS.worker.systemLogLevel),
    },
    sqs: { messageBytes: writes.messageBytes },
    dynamo: {
      writeUnitsPerNotification: ours.writeUnitsPerNotification,
      storedBytesPerNotification: ours.storedBytesPerNotification,
      storedItemsPerNotification: ours.storedItemsPerNotification,
    },
    s3: { putsPerNotification: 0, storedBytesPerNotification: 0 },
    events,
  };
  // The common design keeps the raw payload in S3, not as a notification record: every write the peer made
  // except that PutItem, and the state record alone in storage (idempotency records expire within the hour).
  const notificationPut = Object.entries(peer.byOperationPerNotification).find(
    ([op]) => op === 'PutItem bench-powertools',
  );
  const commonDesign: DesignInputs = {
    name: 'common: REST API, ingest, SQS, worker in Powertools idempotency, payload to S3, state to DynamoDB',
    api: 'rest',
    // In its favour: no access log, and our ingest's log lines; Lambda's default plain-text lines.
    accessLogBytesPerRequest: 0,
    // Its ingest is the floor's (HMAC check and one SendMessage), at the floor's measured duration.
    ingest: {
      ...ingestInputs,
      billedMs: billedMs(ingest.floorP50Ms),
      platformLogBytesPerInvocation: ASSUMPTIONS.platformLogBytes.text,
    },
    worker: {
      batchSize: worker.batchSize,
      billedMsPerBatch: billedMs(worker.variants.powertools.batchMs.p50),
      memoryMb: FUNCTIONS.worker.memoryMb,
      logBytesPerNotification: peer.logBytesPerNotification,
      platformLogBytesPerInvocation: ASSUMPTIONS.platformLogBytes.text,
    },
    sqs: { messageBytes: writes.messageBytes },
    dynamo: {
      writeUnitsPerNotification: peer.writeUnitsPerNotification - (notificationPut?.[1].writeUnits ?? 0),
      storedBytesPerNotification: writes.stateItemBytes,
      storedItemsPerNotification: 1,
    },
    s3: { putsPerNotification: 1, storedBytesPerNotification: writes.bodyBytes },
    // The same delivery as ours (a Pipe from its table's stream), in its favour: publishing from its worker
    // with PutEvents would cost $1.00 per million instead of $0.40.
    events,
  };
  return {
    ours: costPerMillion(oursDesign),
    common: costPerMillion(commonDesign),
    inputs: { ours: oursDesign, common: commonDesign },
  };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;
const pm = (s: { median: number; min: number; max: number }, digits = 2) =>
  `${s.median.toFixed(digits)} [${s.min.toFixed(digits)}–${s.max.toFixed(digits)}]`;

interface Row {
  name: string;
  value: string;
  target: string;
  met: boolean | undefined;
  detail: string;
}

function printTable(rows: Row[]): void {
  const headers = ['figure', 'value', 'target', 'met', 'detail'];
  const cells = rows.map((r) => [
    r.name,
    r.value,
    r.target,
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
    r.detail,
  ]);
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (values: string[]) => `| ${values.map((v, i) => v.padEnd(widths[i] as number)).join(' | ')} |`;
  console.log(line(headers));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) console.log(line(c));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cronofy-bench-'));
  const loadBefore = loadavg();
  try {
    const { bundles, cold, ingest, worker, worstCaseBodies, dynamoOps } = await measureLocal(dir);
    const e2e = await survivingSocketErrors(measureLocalMode);
    const growth = await measureGrowth();
    const cost = costs(ingest, worker);
    const costWorstCase = costs(ingest, worker, {
      ours: worstCaseBodies.variants.ours,
      powertools: worstCaseBodies.variants.powertools,
      messageBytes: worstCaseBodies.messageBytes,
      bodyBytes: worstCaseBodies.bodyBytes,
      stateItemBytes: worstCaseBodies.contractItemBytes.state,
    });

    const c = (name: string) => cold[name] as ColdSummary;
    const ingestInitSpread = pairedRatio(c('ingest'), c('floor-ingest'));
    const workerInitSpread = pairedRatio(c('worker'), c('floor-worker'));
    const ingestInit = ingestInitSpread.median;
    const workerInit = workerInitSpread.median;
    const ingestInitContract = pairedRatio(c('ingest'), c('contract-floor-ingest'));
    const workerInitContract = pairedRatio(c('worker'), c('contract-floor-worker'));
    const cpuRatio = (a: string, b: string) => pairedRatio(c(a), c(b), 'cpuRuns').median.toFixed(3);
    const ingestBundle = bundles.ingest.bytes / bundles['floor-ingest'].bytes;
    const workerBundle = bundles.worker.bytes / bundles['floor-worker'].bytes;
    const v = worker.variants;
    const costRatio = cost.ours.total / cost.common.total;
    const workerInitCpu = pairedRatio(c('worker'), c('floor-worker'), 'cpuRuns').median;
    const eventsOurs = eventsPath(cost.inputs.ours.events);
    const tableClass = tableClassBreakEven(cost.inputs.ours);
    // Compression before/after on this run's workload bodies: the record as stored now and as text.
    log('body compression: candidates on Cronofy-shaped bodies (CPU time)');
    const compression = measureCompression(quick ? 5 : 20);
    const units = recordUnits(CORPUS['throughput workload, 3–5 KB panels'] ?? []);
    const oursDynamo = cost.inputs.ours.dynamo;
    const costAsText = costPerMillion({
      ...cost.inputs.ours,
      dynamo: {
        ...oursDynamo,
        writeUnitsPerNotification: oursDynamo.writeUnitsPerNotification + units.text - units.compressed,
        storedBytesPerNotification: oursDynamo.storedBytesPerNotification + units.bytesSaved,
      },
    });
    const chosen = compression.find((c) => c.codec.includes('chosen'));

    const figures = {
      ingest_vs_floor: round(ingest.p50Ratio.median),
      ingest_bundle_vs_floor: round(ingestBundle),
      ingest_init_vs_floor: round(ingestInit),
      worker_vs_floor: round(worker.oursVsFloor.median),
      worker_vs_contract_floor: round(worker.oursVsContractFloor.median),
      worker_init_vs_floor_cpu: round(workerInitCpu),
      worker_vs_powertools: round(worker.oursVsPowertools.median),
      e2e_notifications_per_s: round(e2e.result?.notificationsPerSecond.median ?? Number.NaN, 1),
      e2e_p99_ms: round(e2e.result?.latencyP99Ms.median ?? Number.NaN, 1),
      cost_per_million_usd: round(cost.ours.total, 4),
      cost_per_million_common_usd: round(cost.common.total, 4),
      cost_ours_vs_common: round(costRatio),
    };

    const rows: Row[] = [
      {
        name: 'ingest_vs_floor (p50)',
        value: ingest.p50Ratio.median.toFixed(3),
        target: '≤ 1.15',
        met: ingest.p50Ratio.median <= 1.15,
        detail: `ours ${ms(ingest.oursP50Ms)} vs floor ${ms(ingest.floorP50Ms)}; rounds ${pm(ingest.p50Ratio, 3)}`,
      },
      {
        name: 'ingest_vs_floor (p99)',
        value: ingest.p99Ratio.median.toFixed(3),
        target: '≤ 1.15',
        met: ingest.p99Ratio.median <= 1.15,
        detail: `ours ${ms(ingest.oursP99Ms)} vs floor ${ms(ingest.floorP99Ms)}; rounds ${pm(ingest.p99Ratio, 3)}`,
      },
      {
        name: 'ingest_bundle_vs_floor',
        value: ingestBundle.toFixed(3),
        target: '≤ 1.10',
        met: ingestBundle <= 1.1,
        detail: `${kb(bundles.ingest.bytes)} vs ${kb(bundles['floor-ingest'].bytes)} (bare SQS client)`,
      },
      {
        name: 'ingest_init_vs_floor',
        value: ingestInit.toFixed(3),
        target: '≤ 1.10',
        met: ingestInit <= 1.1,
        detail: `import→first 202 ${c('ingest').firstResponseMs.median.toFixed(1)} vs ${c('floor-ingest').firstResponseMs.median.toFixed(1)} ms; paired reps ${pm(ingestInitSpread)}; vs contract floor (+ Secrets Manager read) ${pm(ingestInitContract)}`,
      },
      {
        name: 'ingest_init_vs_floor (CPU)',
        value: cpuRatio('ingest', 'floor-ingest'),
        target: '≤ 1.10',
        met: Number(cpuRatio('ingest', 'floor-ingest')) <= 1.1,
        detail: `CPU import→first 202 ${c('ingest').initCpuMs.median.toFixed(1)} vs ${c('floor-ingest').initCpuMs.median.toFixed(1)} ms (unaffected by waiting); vs contract floor ${cpuRatio('ingest', 'contract-floor-ingest')}`,
      },
      {
        name: 'worker_bundle_vs_floor',
        value: workerBundle.toFixed(3),
        target: '≤ 1.10',
        met: workerBundle <= 1.1,
        detail: `${kb(bundles.worker.bytes)} vs ${kb(bundles['floor-worker'].bytes)} (bare DynamoDB client)`,
      },
      {
        name: 'worker_init_vs_floor',
        value: workerInit.toFixed(3),
        target: '≤ 1.10',
        met: workerInit <= 1.1,
        detail: `import→first batch ${c('worker').firstResponseMs.median.toFixed(1)} vs ${c('floor-worker').firstResponseMs.median.toFixed(1)} ms; paired reps ${pm(workerInitSpread)}; vs contract floor (its 2 items, bare PutItems) ${pm(workerInitContract)}`,
      },
      {
        name: 'worker_init_vs_floor (CPU)',
        value: workerInitCpu.toFixed(3),
        target: '≤ 1.15',
        met: workerInitCpu <= 1.15,
        detail: `CPU import→first batch ${c('worker').initCpuMs.median.toFixed(1)} vs ${c('floor-worker').initCpuMs.median.toFixed(1)} ms (unaffected by waiting); vs contract floor ${cpuRatio('worker', 'contract-floor-worker')}`,
      },
      {
        name: 'bundle sizes',
        value: '',
        target: '',
        met: undefined,
        detail: (['ingest', 'worker', 'redirects', 'tokens'] as const)
          .map((n) => `${n} ${bundles[n].error ? 'build failed' : kb(bundles[n].bytes)}`)
          .join(', '),
      },
      {
        name: 'worker_vs_floor',
        value: worker.oursVsFloor.median.toFixed(3),
        target: '≥ 0.8',
        met: worker.oursVsFloor.median >= 0.8,
        detail: `${v.ours.notificationsPerSecond.median.toFixed(0)}/s vs ${v.floor.notificationsPerSecond.median.toFixed(0)}/s (1 PutItem); reps ${pm(worker.oursVsFloor, 3)}`,
      },
      {
        name: 'worker_vs_contract_floor',
        value: worker.oursVsContractFloor.median.toFixed(3),
        target: '≥ 0.85',
        met: worker.oursVsContractFloor.median >= 0.85,
        detail: `vs ${v.contractFloor.notificationsPerSecond.median.toFixed(0)}/s (the contract's two items, unconditional: PutItem per state item, one BatchWriteItem per batch); reps ${pm(worker.oursVsContractFloor, 3)}`,
      },
      {
        name: 'worker_vs_contract_floor, same indexed table',
        value: worker.oursVsContractFloorIndexed.median.toFixed(3),
        target: '',
        met: undefined,
        detail: `vs ${v.contractFloorIndexed.notificationsPerSecond.median.toFixed(0)}/s: the contract floor writing to a table with ours' open-requests index; reps ${pm(worker.oursVsContractFloorIndexed, 3)}`,
      },
      {
        name: 'DynamoDB Local CPU ms / notification by write',
        value: '',
        target: '',
        met: undefined,
        detail: Object.entries(dynamoOps)
          .map(([shape, cpu]) => `${shape} ${cpu.toFixed(2)}`)
          .join('; '),
      },
      {
        name: 'worker round trips / notification',
        value: v.ours.roundTripsPerNotification.toFixed(2),
        target: '≤ 1.2',
        met: v.ours.roundTripsPerNotification <= 1.2,
        detail: `floor ${v.floor.roundTripsPerNotification.toFixed(2)}, contract floor ${v.contractFloor.roundTripsPerNotification.toFixed(2)}, Powertools ${v.powertools.roundTripsPerNotification.toFixed(2)}`,
      },
      {
        name: `write units, 1st / ${growth.count.toLocaleString('en')}th notification to one record`,
        value: `${growth.first.writeUnits} / ${growth.last.writeUnits}`,
        target: 'equal',
        met: growth.first.writeUnits === growth.last.writeUnits,
        detail: `2nd (first update) ${growth.second.writeUnits}; 3.5 KB bodies, state record and notification record, one notification per invocation`,
      },
      {
        name: `round trips, 1st / ${growth.count.toLocaleString('en')}th notification to one record`,
        value: `${growth.first.roundTrips} / ${growth.last.roundTrips}`,
        target: 'equal',
        met: growth.first.roundTrips === growth.last.roundTrips,
        detail: 'one notification per invocation: its state write and its notification-record batch',
      },
      {
        name: 'worker write units / notification',
        value: v.ours.writeUnitsPerNotification.toFixed(2),
        target: '',
        met: undefined,
        detail: `floor ${v.floor.writeUnitsPerNotification.toFixed(2)}, contract floor ${v.contractFloor.writeUnitsPerNotification.toFixed(2)}, Powertools ${v.powertools.writeUnitsPerNotification.toFixed(2)}`,
      },
      {
        name: 'state record bytes',
        value: worker.contractItemBytes.state.toFixed(0),
        target: '',
        met: undefined,
        detail: `key and contract fields ${worker.stateItemParts.contract.toFixed(0)}, open-requests index attributes ${worker.stateItemParts.index.toFixed(0)}, ordering bookkeeping ${worker.stateItemParts.bookkeeping.toFixed(0)}; a write unit per started KB (1,024 B)`,
      },
      {
        name: 'worker_vs_powertools',
        value: worker.oursVsPowertools.median.toFixed(3),
        target: '≥ 2',
        met: worker.oursVsPowertools.median >= 2,
        detail: `${v.ours.notificationsPerSecond.median.toFixed(0)}/s vs ${v.powertools.notificationsPerSecond.median.toFixed(0)}/s; reps ${pm(worker.oursVsPowertools, 3)}`,
      },
      {
        name: 'worker CPU ms / notification',
        value: (v.ours.clientCpuMsPerNotification + v.ours.dynamoCpuMsPerNotification).toFixed(2),
        target: '',
        met: undefined,
        detail: (['ours', 'floor', 'contractFloor', 'contractFloorIndexed', 'powertools'] as const)
          .map(
            (n) =>
              `${n} ${v[n].clientCpuMsPerNotification.toFixed(2)} client + ${v[n].dynamoCpuMsPerNotification.toFixed(2)} DynamoDB Local`,
          )
          .join('; '),
      },
      e2e.result
        ? {
            name: 'e2e_notifications_per_s',
            value: e2e.result.notificationsPerSecond.median.toFixed(1),
            target: '',
            met: undefined,
            detail: `reps ${pm(e2e.result.notificationsPerSecond, 1)}; gateway alone ${e2e.result.ingestPerSecond.median.toFixed(0)}/s; ${e2e.result.workerConcurrency} worker pollers`,
          }
        : {
            name: 'e2e_notifications_per_s',
            value: 'n/a',
            target: '',
            met: undefined,
            detail: e2e.error ?? '',
          },
      ...(e2e.result
        ? [
            {
              name: 'e2e_p99_ms',
              value: e2e.result.latencyP99Ms.median.toFixed(1),
              target: '',
              met: undefined,
              detail: `p50 ${e2e.result.latencyP50Ms.median.toFixed(1)} ms, POST → notification record on the stream at ${e2e.result.pacedRatePerSecond.median.toFixed(0)}/s`,
            },
            {
              name: 'e2e lost',
              value: String(e2e.result.lost),
              target: '0',
              met:
                e2e.result.lost === 0 && e2e.result.duplicatesOnStream === 0 && e2e.result.deadLettered === 0,
              detail: `${e2e.result.sent} sent, ${e2e.result.onStream} on the stream, ${e2e.result.duplicatesOnStream} duplicates, ${e2e.result.deadLettered} dead-lettered`,
            },
          ]
        : []),
      {
        name: 'cost_per_million_usd',
        value: cost.ours.total.toFixed(2),
        target: '',
        met: undefined,
        detail: cost.ours.lines
          .filter((l) => l.usd >= 0.05)
          .map((l) => `${l.item.split(' (')[0]} ${l.usd.toFixed(2)}`)
          .join(', '),
      },
      {
        name: 'cost_per_million_common_usd',
        value: cost.common.total.toFixed(2),
        target: '',
        met: undefined,
        detail: cost.common.lines
          .filter((l) => l.usd >= 0.05)
          .map((l) => `${l.item.split(' (')[0]} ${l.usd.toFixed(2)}`)
          .join(', '),
      },
      {
        name: 'cost ours / common',
        value: costRatio.toFixed(3),
        target: '≤ 0.5',
        met: costRatio <= 0.5,
        detail: `both with compute and events; us-east-1 list prices as of ${PRICES.asOf}; write units ${cost.inputs.ours.dynamo.writeUnitsPerNotification.toFixed(2)} vs ${cost.inputs.common.dynamo.writeUnitsPerNotification.toFixed(2)} per notification`,
      },
      {
        name: 'compression: notification record write units',
        value: `${units.compressed.toFixed(2)} / ${units.text.toFixed(2)}`,
        target: '',
        met: undefined,
        detail: `compressed / as text, the same workload bodies (−${units.bytesSaved.toFixed(0)} B each); cost $${cost.ours.total.toFixed(2)} vs $${costAsText.total.toFixed(2)} as text (ratio ${costRatio.toFixed(3)} vs ${(costAsText.total / cost.common.total).toFixed(3)}); CPU ${chosen?.compressUs.toFixed(0)} µs to compress, ${chosen?.decompressUs.toFixed(0)} µs to read back`,
      },
      {
        name: 'events path',
        value: `$${(eventsOurs.events * eventsOurs.unitPrice + eventsOurs.invocations * PRICES.lambdaPerMillionRequests).toFixed(2)}`,
        target: '',
        met: undefined,
        detail: `per million notifications, both designs: ${eventsOurs.events.toFixed(2)} M events put by the stream function (one per state change; PutEvents $${PRICES.customEventsPerMillion.toFixed(2)} per million) and at most ${eventsOurs.invocations.toFixed(2)} M invocations of it`,
      },
      {
        name: 'Standard-IA table class break-even',
        value: `${tableClass.breakEvenMonths.toFixed(1)} months`,
        target: '',
        met: undefined,
        detail: `IA pays once the table holds > ${tableClass.breakEvenGb.toFixed(2)} GB per million notifications a month (a month of ours stores ${tableClass.gbPerMonthOfTraffic.toFixed(2)} GB); storage −60 %, writes +25 %`,
      },
      {
        name: 'cost ours / common, worst case (4 KB captured data)',
        value: (costWorstCase.ours.total / costWorstCase.common.total).toFixed(3),
        target: '',
        met: undefined,
        detail: `$${costWorstCase.ours.total.toFixed(2)} vs $${costWorstCase.common.total.toFixed(2)} per million; write units ${costWorstCase.inputs.ours.dynamo.writeUnitsPerNotification.toFixed(2)} vs ${costWorstCase.inputs.common.dynamo.writeUnitsPerNotification.toFixed(2)} (${worstCaseBodies.bodyBytes.toFixed(0)} B bodies)`,
      },
    ];

    const seconds = (Date.now() - started) / 1000;
    console.log('');
    printTable(rows);
    console.log(
      `\n${cpus().length} CPUs, Node ${process.version}, load ${loadBefore.map((l) => l.toFixed(1)).join('/')} → ${loadavg()
        .map((l) => l.toFixed(1))
        .join('/')}, ${seconds.toFixed(0)} s`,
    );

    if (jsonFile) {
      const summarise = (b: Bundle) => ({
        bytes: b.bytes,
        mapBytes: b.mapBytes,
        error: b.error,
        top: b.contributors.slice(0, 12),
      });
      const detail = {
        machine: { cpus: cpus().length, node: process.version, loadBefore, loadAfter: loadavg(), seconds },
        sizes: SIZES,
        table: rows,
        bundles: Object.fromEntries(Object.entries(bundles).map(([name, b]) => [name, summarise(b)])),
        cold,
        ingest,
        worker,
        dynamoOps,
        e2e,
        growth,
        costWorstCaseBodies: {
          accounting: worstCaseBodies,
          ours: costWorstCase.ours,
          common: costWorstCase.common,
          inputs: costWorstCase.inputs,
        },
        compression: { candidates: compression, recordUnits: units, costAsText },
        tableClass,
        events: eventsOurs,
        cost: {
          prices: PRICES,
          assumptions: ASSUMPTIONS,
          ours: cost.ours,
          common: cost.common,
          inputs: cost.inputs,
          ratio: costRatio,
        } satisfies {
          ours: CostBreakdown;
        } & Record<string, unknown>,
      };
      writeFileSync(jsonFile, `${JSON.stringify({ ...figures, detail }, null, 2)}\n`);
      log(`wrote ${jsonFile}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A missing Java is the user's to fix, said before minutes of bundling: its message, not a stack trace.
try {
  requireJava();
} catch (error) {
  if (!(error instanceof JavaMissingError)) throw error;
  console.error(error.message);
  process.exit(1);
}
await main();
