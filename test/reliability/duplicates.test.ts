import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import { simulate } from '../sim/index.ts';
import { expectExactlyOnce } from '../support/exactly-once.ts';

/**
 * At-least-once delivery meets exactly-once effects: the whole local stack (gateway → ingest → SQS emulator →
 * poller → worker → DynamoDB Local → stream), fed concurrently by the Cronofy simulator with 30 % duplicates
 * (half racing the original, half arriving after it was accepted). Every notification must have exactly one
 * effect, on the table and on the stream. RELIABILITY_HEAVY=1 adds a top-of-hour burst of 3,000.
 */

const HEAVY = process.env.RELIABILITY_HEAVY === '1';
/** 20–40 s on 2 cores next to the other suites (DynamoDB Local applies ~40–70 notifications/s here). */
const COUNT = 1000;

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({ quiet: true, visibilityTimeoutSeconds: 5 });
});

afterAll(async () => {
  await stack?.stop();
});

async function exactlyOnce(name: string, options: Parameters<typeof simulate>[0]) {
  const result = await simulate(options);
  const check = await expectExactlyOnce(name, result, stack, 120_000);
  return { result, check };
}

describe('duplicates, concurrently, through the whole local stack', { timeout: 180_000 }, () => {
  it(`${COUNT.toLocaleString('en')} notifications with 30 % duplicates: exactly one effect each`, async () => {
    const { result } = await exactlyOnce(
      `duplicates: ${COUNT} mixed notifications, 30 % duplicates, concurrency 16`,
      {
        scenario: 'mixed',
        count: COUNT,
        url: `${stack.url}/cronofy/notifications`,
        secrets: stack.config.secrets.clientSecrets,
        concurrency: 16,
        rate: 0,
        duplicateRatio: 0.3,
        duplicateDelayMs: 1000,
        seed: 1000,
      },
    );
    // About 30 % duplicates really went out (binomial: well within ±5 points at these counts).
    expect(result.summary.duplicatesSent / COUNT).toBeGreaterThan(0.25);
    expect(result.summary.duplicatesSent / COUNT).toBeLessThan(0.35);
  });

  it.runIf(HEAVY)('a top-of-hour burst of 3,000 with 30 % duplicates, signed with two secrets', async () => {
    await exactlyOnce('duplicates (heavy): 3,000 top-of-hour burst, 30 % duplicates, two secrets', {
      scenario: 'top-of-hour',
      count: 3000,
      url: `${stack.url}/cronofy/notifications`,
      secrets: [...stack.config.secrets.clientSecrets, 'CRN_retiring_secret'],
      concurrency: 32,
      rate: 0,
      duplicateRatio: 0.3,
      seed: 3000,
    });
  });
});
