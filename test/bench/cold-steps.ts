import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalAws } from '../support/local-aws.ts';
import { BENCH_ENTRIES, buildBundle } from './bundles.ts';
import { coldRun, workerColdEnv, writeRunner } from './cold-start.ts';
import { spread } from './stats.ts';
import { envelopeOf, notification, sqsEvent } from './workload.ts';

/**
 * `npx tsx test/bench/cold-steps.ts [--reps N]`: the worker's cold start split into steps, each timed by CPU in
 * a fresh process (test/bench/what-if/worker-steps.ts), beside the floor's import and first batch. Per-step
 * figures of one process include what the first step to need it pays once (compiling code on first run, the
 * first garbage collections), so a step that gets cheaper can move such a cost to the next one: compare sums.
 */

const args = process.argv.slice(2);
const reps = args.includes('--reps') ? Number(args[args.indexOf('--reps') + 1]) : 15;

const dir = mkdtempSync(join(tmpdir(), 'cronofy-cold-steps-'));
const aws = await startLocalAws(`cold-steps-${process.pid}`);
try {
  const [steps, floor] = await Promise.all([
    buildBundle('worker-steps', 'test/bench/what-if/worker-steps.ts', dir),
    buildBundle('floor-worker', BENCH_ENTRIES['floor-worker'], dir),
  ]);
  for (const b of [steps, floor]) if (b.error) throw new Error(`${b.name}: ${b.error}`);
  const runner = writeRunner(dir);
  const env = workerColdEnv(aws);
  let message = 0;
  const event = () =>
    sqsEvent(
      [1, 2].map(() => ({ messageId: `steps-${++message}`, body: envelopeOf(notification('steps', 4096)) })),
    );
  const variants = [
    { name: 'worker', bundle: steps.file, env: { ...env, STEPS: 'code' } },
    { name: 'sdk', bundle: steps.file, env: { ...env, STEPS: 'sdk' } },
    { name: 'floor', bundle: floor.file, env },
  ];
  const figures = new Map<string, number[]>();
  const add = (name: string, value: number) => figures.set(name, [...(figures.get(name) ?? []), value]);
  for (let rep = -1; rep < reps; rep++) {
    for (let i = 0; i < variants.length; i++) {
      const variant = variants[(i + Math.max(rep, 0)) % variants.length] as (typeof variants)[number];
      const run = await coldRun(runner, variant.bundle, event(), variant.env);
      if (rep < 0) continue;
      add(`${variant.name}: import → first response`, run.initCpuMs);
      add(`${variant.name}: import`, run.importCpuMs);
      for (const [step, ms] of Object.entries((run.result as { steps?: Record<string, number> }).steps ?? {}))
        add(`${variant.name}: ${step}`, ms);
    }
  }
  console.log(`\nCPU ms per step, median [min–max] of ${reps} fresh processes`);
  for (const [name, values] of figures) {
    const s = spread(values);
    console.log(`  ${s.median.toFixed(2).padStart(7)} [${s.min.toFixed(1)}–${s.max.toFixed(1)}]  ${name}`);
  }
} finally {
  await aws.stop();
  rmSync(dir, { recursive: true, force: true });
}
