import { randomBytes } from 'node:crypto';
import { type DeliveryOptions, type DeliveryResult, deliver } from './delivery.ts';
import { seededRandom } from './random.ts';
import { buildScenario, type ScenarioName } from './scenarios.ts';

/** Build a scenario and deliver it: the simulator as a library (the CLI and the reliability suite use it). */

export interface SimulateOptions extends Omit<DeliveryOptions, 'random'> {
  scenario: ScenarioName;
  count: number;
  /** Shapes the run (scenario mix, duplicates, jitter); identifiers stay unique per run regardless. */
  seed?: number;
}

export interface SimulateResult extends DeliveryResult {
  seed: number;
  runId: string;
}

export async function simulate(options: SimulateOptions): Promise<SimulateResult> {
  const { scenario, count, seed = randomBytes(4).readUInt32BE(0), ...delivery } = options;
  const random = seededRandom(seed);
  const runId = randomBytes(4).toString('hex');
  const chains = buildScenario(scenario, count, { random, runId, now: new Date() });
  const result = await deliver(chains, { ...delivery, random });
  return { ...result, seed, runId };
}
