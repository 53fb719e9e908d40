import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CronofyFake } from '../../infra/local/cronofy-fake.ts';
import type { LocalStack } from '../../infra/local/stack.ts';
import type { ApiRequestsReport } from '../sim/api-requests.ts';
import { startTestStackWithFake } from '../support/local-mode.ts';
import { runSim } from '../support/sim.ts';

/**
 * `npm run sim -- --api-requests N` against local mode as npm start runs it (the stack and its Cronofy fake, on
 * free ports, found through PORT, DYNAMODB_PORT, TABLE_NAME and CRONOFY_API_PORT): requests created through the
 * API are booked, rescheduled and declined in the fake, some steps without a notification; once reconciled,
 * every record shows what the fake holds, and the silent steps are what reconciliation brought in.
 */

const SECRET = 'CRN_e2e_sim_api_secret';
let stack: LocalStack;
let fake: CronofyFake;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  ({ stack, fake, env } = await startTestStackWithFake('sim-api', SECRET));
});
afterAll(async () => {
  await stack?.stop();
  await fake?.close();
});

const sim = (argv: string[], extraEnv: NodeJS.ProcessEnv = {}) => runSim(argv, { ...env, ...extraEnv });

describe('npm run sim -- --api-requests', () => {
  it('converges every record on what Cronofy holds, the silent steps through reconciliation', async () => {
    const sentBefore = fake.stats.notificationsSent;
    const createdBefore = fake.stats.created;
    const { code, stdout, stderr } = await sim([
      '--api-requests',
      '12',
      '--silent-share',
      '0.4',
      '--seed',
      '20240611',
      '--json',
    ]);
    const report = JSON.parse(stdout) as ApiRequestsReport;
    expect(report.findings).toEqual([]);
    expect(code).toBe(0);
    expect(stderr).toContain(`Cronofy simulator → ${stack.url}/scheduling-requests`);
    expect(report).toMatchObject({ created: 12, undelivered: 0, unapplied: 0, mismatched: 0, ok: true });
    expect(fake.stats.created - createdBefore).toBe(12);

    // Booked, rescheduled and declined, each notified through the real route at least once; some steps silent.
    expect(report.byStep.time_chosen).toBeGreaterThan(0);
    expect(report.byStep.rescheduled).toBeGreaterThan(0);
    expect(report.byStep.declined).toBeGreaterThan(0);
    expect(fake.stats.notificationsSent - sentBefore).toBe(report.notified);
    expect(report.silent).toBeGreaterThan(0);
    expect(report.notified + report.silent).toBe(report.steps);

    // The records the silent steps left behind are exactly those reconciliation changed, and it fixed them all.
    expect(report.behind).toBeGreaterThan(0);
    expect(report.convergedAfterReconcile).toBe(report.behind);
    expect(report.reconcile).toMatchObject({ checked: 12, changed: report.behind, notFound: [], failed: [] });
  }, 180_000);

  it('prints the summary line, and exits 1 with what failed when local mode refuses its credential', async () => {
    const ok = await sim(['--api-requests', '2', '--silent-share', '1', '--no-progress']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      /\ncreated 2 {2}notified \d+ {2}silent \d+ {2}converged-after-reconcile (\d+)\/\1 {2}mismatched 0\nOK\n$/,
    );

    const refused = await sim(['--api-requests', '2'], { LOCAL_API_TOKEN: 'not-the-local-token' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'Stopped early: the gateway refuses the local credential (403): give this command the same LOCAL_API_TOKEN as npm start',
    );

    const noTable = await sim(['--api-requests', '2'], { TABLE_NAME: 'no-such-table' });
    expect(noTable.code).toBe(1);
    expect(noTable.stderr).toContain(
      `table no-such-table was not found in DynamoDB Local at ${stack.endpoints.dynamodb}: give this command the same TABLE_NAME as npm start`,
    );
    expect(noTable.stdout).not.toContain('created');
  }, 60_000);
});
