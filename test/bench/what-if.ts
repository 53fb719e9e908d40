import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSEvent } from 'aws-lambda';
import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { SqsNotificationQueue } from '#shared/aws/sqs-queue.ts';
import { createLogger } from '#shared/core/logger.ts';
import { makeHandler as makeIngestHandler } from '../../functions/ingest/handler.ts';
import { makeHandler as makeWorkerHandler } from '../../functions/worker/handler.ts';
import { FUNCTIONS, WORKER } from '../../infra/definitions.ts';
import { dynamoClient, sqsClient } from '../../infra/local/services.ts';
import { startLocalAws } from '../support/local-aws.ts';
import { BENCH_ENTRIES, type Bundle, buildBundle, ROOT } from './bundles.ts';
import { type ColdProfileEntry, profileColdStart } from './cold-profile.ts';
import {
  type ColdVariant,
  measureColdStarts,
  pairedRatio,
  workerColdEnv,
  writeRunner,
} from './cold-start.ts';
import { startFakeSecretsManager } from './fake-secrets-manager.ts';
import { CountingSink } from './log-sink.ts';
import { profileSection } from './profile.ts';
import { contractItemsJson, warmUpEmulator } from './worker-throughput.ts';
import { apiEvent, envelopeOf, notification, SECRETS, sqsEvent, workerBatches } from './workload.ts';

/**
 * `npx tsx test/bench/what-if.ts [--reps N] [--json FILE]`: the profiling behind the performance section.
 * Where a figure misses its target, this measures candidate fixes built from the same shared code without
 * changing it (alternative entry points and module aliases under test/bench/what-if/), and profiles the cold
 * and warm paths of ingest and worker. Slower than `npm run bench`; not part of it.
 */

const args = process.argv.slice(2);
const reps = args.includes('--reps') ? Number(args[args.indexOf('--reps') + 1]) : 15;
const jsonFile = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
const log = (message: string) => process.stderr.write(`[what-if] ${message}\n`);
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

const ok = (result: unknown) => {
  const r = result as { statusCode?: number; batchItemFailures?: unknown[] };
  if (r?.statusCode !== 202 && !(Array.isArray(r?.batchItemFailures) && r.batchItemFailures.length === 0)) {
    throw new Error(`unexpected first response ${JSON.stringify(result)}`);
  }
};

function printProfile(title: string, entries: readonly ColdProfileEntry[], top = 12, unit = 'ms'): void {
  console.log(`\n${title}`);
  for (const e of entries.slice(0, top))
    console.log(`  ${e.ms.toFixed(1).padStart(7)} ${unit.padEnd(2)}  ${e.name}`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cronofy-what-if-'));
  const aws = await startLocalAws(`what-if-${process.pid}`);
  const secrets = await startFakeSecretsManager(
    JSON.stringify({ client_secrets: SECRETS, embed_public_key: 'EMB_x', embed_secret: 'ESK_x' }),
  );
  const results: Record<string, unknown> = {};
  try {
    log('building bundles and warming DynamoDB Local');
    // The ingest handler as it is, with its secrets adapter swapped for the signed-request one.
    const signedSecrets = {
      plugins: [
        {
          name: 'signed-secrets',
          setup(build: import('esbuild').PluginBuild) {
            build.onResolve({ filter: /aws\/secrets\.ts$/ }, (args) =>
              args.importer.endsWith('functions/ingest/handler.ts')
                ? { path: join(ROOT, 'test/bench/what-if/secrets-signed.ts') }
                : undefined,
            );
          },
        },
      ],
    };
    const smallMarshall = {
      alias: { '@aws-sdk/util-dynamodb': join(ROOT, 'test/bench/what-if/dynamo-json.ts') },
    };
    const specs: [string, string, object?][] = [
      ['ingest', FUNCTIONS.ingest.entry],
      ['floor-ingest', BENCH_ENTRIES['floor-ingest']],
      ['contract-floor-ingest', BENCH_ENTRIES['contract-floor-ingest']],
      ['ingest-signed-secrets', FUNCTIONS.ingest.entry, signedSecrets],
      ['worker', FUNCTIONS.worker.entry],
      ['worker-small-marshall', FUNCTIONS.worker.entry, smallMarshall],
      ['worker-zod-jitless', 'test/bench/what-if/worker-jitless.ts'],
      ['floor-worker', BENCH_ENTRIES['floor-worker']],
    ];
    const [built] = await Promise.all([
      Promise.all(specs.map(([name, entry, overrides]) => buildBundle(name, entry, dir, overrides))),
      warmUpEmulator(aws.dynamo.endpoint, 300, { lanes: 8, batchSize: WORKER.batchSize }),
    ]);
    const bundles = Object.fromEntries(built.map((b) => [b.name, b])) as Record<string, Bundle>;
    for (const b of built) if (b.error) throw new Error(`${b.name}: ${b.error}`);

    const sqsEnv = { AWS_ENDPOINT_URL_SQS: aws.sqs.endpoint, QUEUE_URL: aws.queues.queueUrl };
    const secretEnv = {
      SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:0:secret:x',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      SECRETS_CACHE_SECONDS: '300',
      // The tenant notification URLs' directory (built at cold start, read only for a tenant URL).
      TENANTS_TABLE_NAME: 'bench-tenants',
      TENANTS_KEY_ARN: 'arn:aws:kms:us-east-1:000000000000:key/bench',
    };
    const ddbEnv = workerColdEnv(aws);
    let message = 0;
    const ingestEvent = () => apiEvent(notification('what-if', 4096).body);
    const workerEvent = () =>
      sqsEvent([{ messageId: `w-${++message}`, body: envelopeOf(notification('what-if', 4096)) }]);
    const contractEvent = () => {
      const m = { messageId: `w-${++message}`, body: envelopeOf(notification('what-if', 4096)) };
      return sqsEvent([{ messageId: m.messageId, body: contractItemsJson(m) }]);
    };
    const envOf: Record<string, Record<string, string>> = {
      ingest: { ...sqsEnv, ...secretEnv },
      'floor-ingest': { ...sqsEnv, FLOOR_SECRETS: SECRETS.join(',') },
      'contract-floor-ingest': { ...sqsEnv, ...secretEnv },
      'ingest-signed-secrets': { ...sqsEnv, ...secretEnv },
      worker: ddbEnv,
      'worker-small-marshall': ddbEnv,
      'worker-zod-jitless': ddbEnv,
      'floor-worker': ddbEnv,
      'contract-floor-worker': { ...ddbEnv, FLOOR_WRITES: 'items' },
    };
    const variants: ColdVariant[] = Object.entries(envOf).map(([name, env]) => ({
      name,
      bundle: (bundles[name] ?? (bundles['floor-worker'] as Bundle)).file,
      env,
      event: name.includes('ingest')
        ? ingestEvent
        : name === 'contract-floor-worker'
          ? contractEvent
          : workerEvent,
      check: ok,
    }));

    const runner = writeRunner(dir);
    log(`cold starts: ${variants.length} variants × ${reps}`);
    const cold = await measureColdStarts(runner, variants, reps);
    results.cold = cold;
    console.log('\nCold start proxy (import → first response), paired medians');
    const line = (name: string, floor: string, ours: string) => {
      const c = cold[name];
      if (!c) return;
      const bytes = (bundles[name] ?? bundles['floor-worker'])?.bytes ?? Number.NaN;
      const vsFloor = pairedRatio(c, cold[floor] as typeof c);
      const vsOurs = pairedRatio(c, cold[ours] as typeof c);
      console.log(
        `  ${name.padEnd(24)} ${kb(bytes).padStart(9)}  bytes/floor ${(bytes / (bundles[floor]?.bytes ?? 1)).toFixed(3)}  ` +
          `${c.firstResponseMs.median.toFixed(1).padStart(6)} ms [${c.firstResponseMs.min.toFixed(0)}–${c.firstResponseMs.max.toFixed(0)}]  ` +
          `init/floor ${vsFloor.median.toFixed(3)}  init/ours ${vsOurs.median.toFixed(3)}  ` +
          `init CPU ${c.initCpuMs.median.toFixed(1)} ms (/floor ${pairedRatio(c, cold[floor] as typeof c, 'cpuRuns').median.toFixed(3)})`,
      );
    };
    for (const name of ['ingest', 'contract-floor-ingest', 'ingest-signed-secrets', 'floor-ingest'])
      line(name, 'floor-ingest', 'ingest');
    for (const name of [
      'worker',
      'worker-small-marshall',
      'worker-zod-jitless',
      'contract-floor-worker',
      'floor-worker',
    ])
      line(name, 'floor-worker', 'worker');

    const zod = bundles.worker?.contributors.find((c) => c.name === 'zod')?.bytes ?? 0;
    const utilDynamo =
      bundles.worker?.contributors.find((c) => c.name === '@aws-sdk/util-dynamodb')?.bytes ?? 0;
    const workerBytes = bundles.worker?.bytes ?? 0;
    const floorBytes = bundles['floor-worker']?.bytes ?? 1;
    console.log('\nWorker bundle, metafile attribution');
    for (const c of bundles.worker?.contributors.filter(
      (c) => !bundles['floor-worker']?.contributors.some((f) => f.name === c.name && f.bytes === c.bytes),
    ) ?? []) {
      console.log(`  ${kb(c.bytes).padStart(9)}  ${c.name}`);
    }
    console.log(
      `  without zod: ${kb(workerBytes - zod)} → ${((workerBytes - zod) / floorBytes).toFixed(3)} of the floor; ` +
        `without zod and util-dynamodb (small marshaller): ${kb((bundles['worker-small-marshall']?.bytes ?? 0) - zod)} → ${(((bundles['worker-small-marshall']?.bytes ?? 0) - zod) / floorBytes).toFixed(3)}`,
    );
    results.bundles = Object.fromEntries(
      built.map((b) => [b.name, { bytes: b.bytes, top: b.contributors.slice(0, 15) }]),
    );
    results.attribution = { zod, utilDynamo };

    log('cold-start profiles (unminified bundles under --cpu-prof)');
    const profiles: Record<string, ColdProfileEntry[]> = {};
    for (const [name, entry] of [
      ['ingest', FUNCTIONS.ingest.entry],
      ['floor-ingest', BENCH_ENTRIES['floor-ingest']],
      ['worker', FUNCTIONS.worker.entry],
      ['floor-worker', BENCH_ENTRIES['floor-worker']],
    ] as const) {
      profiles[name] = await profileColdStart({
        name,
        entry,
        dir,
        runner,
        env: envOf[name] ?? {},
        event: name.includes('ingest') ? ingestEvent : workerEvent,
        runs: 5,
      });
      printProfile(`Cold start self time, ${name} (mean of 5 runs)`, profiles[name] ?? []);
    }
    results.coldProfiles = profiles;

    log('warm profiles (in process)');
    const sink = new CountingSink();
    const sqs = sqsClient(aws.sqs.endpoint);
    const ingest = makeIngestHandler({
      queue: new SqsNotificationQueue(sqs, aws.queues.queueUrl),
      secrets: new StaticSecrets({
        clientSecrets: [...SECRETS],
        embedPublicKey: 'EMB_x',
        embedSecret: 'ESK_x',
      }),
      clock: () => new Date(),
      logger: createLogger('ingest', sink.write, {}),
    });
    const events = Array.from({ length: 64 }, (_, i) => apiEvent(notification('warm', 3072 + i * 32).body));
    for (let i = 0; i < 500; i++) await ingest(events[i % 64] as (typeof events)[number]);
    const ingestProfile = await profileSection(async () => {
      for (let i = 0; i < 2000; i++) await ingest(events[i % 64] as (typeof events)[number]);
    });
    printProfile(
      'Warm ingest, share of sampled time (2,000 requests)',
      ingestProfile.entries.map((e) => ({ name: e.name, ms: e.share * 100 })),
      15,
      '%',
    );

    const ddb = dynamoClient(aws.dynamo.endpoint);
    const worker = makeWorkerHandler(
      {
        store: new DynamoRecordStore(ddb, aws.tableName),
        clock: () => new Date(),
        logger: createLogger('worker', sink.write, {}),
        retentionDays: 90,
      },
      sink.write,
    );
    const batches = (n: number) => workerBatches('prof', n);
    const lanes = async (list: ReturnType<typeof batches>) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < list.length) await worker(list[next++] as SQSEvent);
        }),
      );
    };
    await lanes(batches(30));
    const list = batches(150);
    const workerProfile = await profileSection(() => lanes(list));
    printProfile(
      'Warm worker, share of sampled time (1,500 notifications, 8 × 10 in flight)',
      workerProfile.entries.map((e) => ({ name: e.name, ms: e.share * 100 })),
      20,
      '%',
    );
    results.warmProfiles = {
      ingest: ingestProfile.entries.slice(0, 30),
      worker: workerProfile.entries.slice(0, 30),
    };
    sink.close();
    sqs.destroy();
    ddb.destroy();

    if (jsonFile) writeFileSync(jsonFile, `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    await secrets.stop();
    await aws.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
