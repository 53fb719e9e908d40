/**
 * The simulator as a library: what the reliability suite and other tests may use. Everything else in
 * test/sim is its inside. `npm run sim` is cli.ts; `run` is that command, for tests that drive it in process.
 */

export { run } from './cli.ts';
export { type DeliveryRecord, type DeliveryResult, deliver } from './delivery.ts';
export { recordFigures, runFigures } from './figures.ts';
export { type Random, seededRandom } from './random.ts';
export {
  buildScenario,
  type Chain,
  SCENARIOS,
  type ScenarioName,
  type SimNotification,
} from './scenarios.ts';
export { type SimulateOptions, type SimulateResult, simulate } from './simulate.ts';
export { median, probabilityOfSuperiority } from './stats.ts';
export type { HttpRequest, Transport } from './transport.ts';
export { getItems, type RunCheck, readTableStream, verifyRun, verifyStream, verifyTable } from './verify.ts';
