import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Spread, spread } from './stats.ts';

/**
 * Cold-start proxy: a fresh `node` per repetition imports the bundle and answers one request against the
 * loopback emulators. Measured inside the child from just before `import()` to the first response, and
 * from process start (`performance.timeOrigin`) for context. Source maps are enabled as the stack enables
 * them (`NODE_OPTIONS=--enable-source-maps`).
 */

const RUNNER = `import { writeSync } from 'node:fs';
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const mod = await import(process.env.BENCH_BUNDLE);
const t1 = performance.now();
const cpu1 = process.cpuUsage();
const context = { functionName: 'bench', awsRequestId: 'cold', getRemainingTimeInMillis: () => 10000 };
const result = await mod.handler(JSON.parse(process.env.BENCH_EVENT), context);
const t2 = performance.now();
const cpu = process.cpuUsage();
const cpuMs = (cpu.user + cpu.system) / 1000;
const initCpuMs = cpuMs - (cpu0.user + cpu0.system) / 1000;
const importCpuMs = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 1000;
writeSync(3, JSON.stringify({ importMs: t1 - t0, firstResponseMs: t2 - t0, fromProcessStartMs: t2, cpuMs, initCpuMs, importCpuMs, result }));
process.exit(0);
`;

export interface ColdRun {
  importMs: number;
  firstResponseMs: number;
  fromProcessStartMs: number;
  /** CPU time of the whole child (user + system): what the emulator's latency cannot inflate. */
  cpuMs: number;
  /** CPU time from just before the import to the first response: the cold work of the bundle alone. */
  initCpuMs: number;
  /** The part of `initCpuMs` spent importing the bundle (parsing, compiling, running its top level). */
  importCpuMs: number;
  logBytes: number;
  result: unknown;
}

export function writeRunner(dir: string): string {
  const file = join(dir, 'cold-start-runner.mjs');
  writeFileSync(file, RUNNER);
  return file;
}

export function coldRun(
  runner: string,
  bundle: string,
  event: unknown,
  env: Record<string, string>,
  nodeArgs: readonly string[] = [],
): Promise<ColdRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, runner], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_OPTIONS: '--enable-source-maps',
        NODE_NO_WARNINGS: '1',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_LAMBDA_FUNCTION_NAME: 'bench',
        BENCH_BUNDLE: bundle,
        BENCH_EVENT: JSON.stringify(event),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let logBytes = 0;
    let stderr = '';
    let report = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      logBytes += chunk.length;
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
      report += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0 || !report)
        return reject(new Error(`cold start of ${bundle} failed (${code}): ${stderr.slice(0, 500)}`));
      resolve({ ...(JSON.parse(report) as Omit<ColdRun, 'logBytes'>), logBytes });
    });
  });
}

/** The worker's environment in a cold-start child, against DynamoDB Local. */
export function workerColdEnv(aws: {
  dynamo: { endpoint: string };
  tableName: string;
}): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_DYNAMODB: aws.dynamo.endpoint,
    TABLE_NAME: aws.tableName,
    NOTIFICATION_RETENTION_DAYS: '90',
    METRICS_NAMESPACE: 'CronofyNotifications/bench',
  };
}

export interface ColdVariant {
  name: string;
  bundle: string;
  env: Record<string, string>;
  /** A fresh event per repetition, so every cold run does a first write of its own. */
  event: () => unknown;
  /** Throws when the first response is not the success the variant should give. */
  check: (result: unknown) => void;
}

export interface ColdSummary {
  /** Import → first response of every measured repetition, in order (rep i of every variant ran together). */
  runs: number[];
  cpuRuns: number[];
  firstResponseMs: Spread;
  importMs: Spread;
  fromProcessStartMs: Spread;
  cpuMs: Spread;
  initCpuMs: Spread;
  logBytes: number;
}

/** Interleave the variants (rotating their order) so drift on a shared machine hits all of them alike. */
export async function measureColdStarts(
  runner: string,
  variants: readonly ColdVariant[],
  repetitions: number,
): Promise<Record<string, ColdSummary>> {
  const runs = new Map<string, ColdRun[]>(variants.map((v) => [v.name, []]));
  // One discarded round first: it pays for reading the bundles from disk.
  for (let rep = -1; rep < repetitions; rep++) {
    for (let i = 0; i < variants.length; i++) {
      const variant = variants[(i + Math.max(rep, 0)) % variants.length] as ColdVariant;
      const run = await coldRun(runner, variant.bundle, variant.event(), variant.env);
      variant.check(run.result);
      if (rep >= 0) runs.get(variant.name)?.push(run);
    }
  }
  return Object.fromEntries(
    [...runs.entries()].map(([name, list]) => [
      name,
      {
        runs: list.map((r) => r.firstResponseMs),
        cpuRuns: list.map((r) => r.initCpuMs),
        firstResponseMs: spread(list.map((r) => r.firstResponseMs)),
        importMs: spread(list.map((r) => r.importMs)),
        fromProcessStartMs: spread(list.map((r) => r.fromProcessStartMs)),
        cpuMs: spread(list.map((r) => r.cpuMs)),
        initCpuMs: spread(list.map((r) => r.initCpuMs)),
        logBytes: list[0]?.logBytes ?? 0,
      },
    ]),
  );
}

/** Ratio of `a` to `b` per repetition (they ran back to back), as a median and spread. */
export function pairedRatio(a: ColdSummary, b: ColdSummary, of: 'runs' | 'cpuRuns' = 'runs'): Spread {
  return spread(a[of].map((value, i) => value / (b[of][i] as number)));
}
