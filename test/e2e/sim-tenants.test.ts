import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CronofyFake } from '../../infra/local/cronofy-fake.ts';
import type { LocalStack } from '../../infra/local/stack.ts';
import { CALLS_AFTER_EXPIRY, type TenantsReport } from '../sim/tenants.ts';
import { startTestStackWithFake } from '../support/local-mode.ts';
import { runSim } from '../support/sim.ts';

/**
 * `npm run sim -- --tenants N` against local mode as npm start runs it (the stack and its Cronofy fake, on free
 * ports, found through PORT, DYNAMODB_PORT, TABLE_NAME and CRONOFY_API_PORT): tenants onboarded through the real
 * routes, their requests in their own OUs, one refresh each after an expiry, a disconnected OU refused with 409,
 * forgeries across tenants kept rejected, and every record its own tenant's after reconciliation.
 */

const SECRET = 'CRN_e2e_sim_tenants_secret';
let stack: LocalStack;
let fake: CronofyFake;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  ({ stack, fake, env } = await startTestStackWithFake('sim-tenants', SECRET));
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  await fake?.close();
});

const sim = (argv: string[]) => runSim(argv, env);

describe('npm run sim -- --tenants', () => {
  it('keeps three tenants apart from onboarding to reconciliation, and says so in figures', async () => {
    const before = { ...fake.stats, tokenRefreshesByOu: { ...fake.stats.tokenRefreshesByOu } };
    const perTenant = 6;
    const { code, stdout, stderr } = await sim([
      '--tenants',
      '3',
      '--per-tenant',
      String(perTenant),
      '--json',
    ]);
    const report = JSON.parse(stdout) as TenantsReport;
    expect(report.findings).toEqual([]);
    expect(code).toBe(0);
    expect(stderr).toContain(`Cronofy simulator → ${stack.url}`);

    // Onboarded through the routes: three consents exchanged at the fake, three OUs, all connected.
    expect(report.connected).toBe(3);
    expect(fake.stats.tokenExchanges - before.tokenExchanges).toBe(3);
    const ous = report.tenants.map((tenant) => tenant.organizational_unit);
    expect(new Set(ous).size).toBe(3);
    const requests = perTenant + CALLS_AFTER_EXPIRY;
    expect(report.tenants.map((tenant) => tenant.requests)).toEqual([requests, requests, requests]);
    expect(report.requests).toBe(3 * requests);
    expect(report.booked).toEqual({ notified: 6, tenant_signed: 6, silent: 6 });
    expect(report.tenantSigned).toEqual({ sent: 6, applied: 6 });

    // One refresh per tenant after the expiry, by the fake's own per-OU counters.
    expect(report.refreshes).toEqual({ total: 3, tenantsWithOne: 3 });
    for (const ou of ous)
      expect(
        (fake.stats.tokenRefreshesByOu[ou ?? ''] ?? 0) - (before.tokenRefreshesByOu[ou ?? ''] ?? 0),
      ).toBe(1);

    // The last tenant's OU removed the application: refused at its refresh, 409, disconnected.
    const gone = report.tenants[2];
    expect(report.disconnected).toEqual({
      tenant_id: gone?.tenant_id,
      answer: 409,
      error: 'tenant_disconnected',
      status: 'disconnected',
      cancel: 409,
    });
    expect(fake.stats.tokenRefusals - before.tokenRefusals).toBeGreaterThanOrEqual(1);

    // Forgeries kept rejected and changing nothing; an unknown tenant indistinguishable from a bad signature.
    // One per tenant, for the previous tenant's request, and one for a request of no tenant.
    expect(report.forgeries).toEqual({ sent: 4, accepted: 4, rejected: 4, unchanged: 4 });
    expect(report.unknownTenant).toEqual({ status: 401, sameAsBadSignature: true });

    // Reconciliation read each connected tenant's requests with its token and brought in their silent
    // bookings (two per tenant); the disconnected tenant's were skipped, not failed.
    expect(report.reconcile).toMatchObject({ changed: 4, skipped: requests, failed: 0, notFound: 0 });
    // Plus the request of no tenant, read with the deployment's credential.
    expect(report.reconcile.checked).toBe(2 * requests + 1);
    expect(report).toMatchObject({ crossed: 0, mismatches: 0, ok: true });
  }, 240_000);

  it('prints the figures on one line, and refuses fewer than two tenants and options of other runs', async () => {
    const ok = await sim(['--tenants', '2', '--per-tenant', '1', '--no-progress']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      /\ntenants 2 {2}connected 2 \(1 disconnected on purpose\) {2}requests\/tenant 4\/4 {2}refreshes 2\/2 {2}rejected 3\/3 {2}crossed 0 {2}mismatches 0\nOK\n$/,
    );
    const one = await sim(['--tenants', '1']);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain('--tenants must be a whole number from 2 to 50, got "1"');
    for (const [argv, message] of [
      [['--per-tenant', '3'], '--per-tenant goes with --tenants'],
      [['--tenants', '2', '--api-requests', '2'], '--tenants and --api-requests are two runs: give one'],
      [['--tenants', '2', '--url', 'http://x'], '--url does not apply to --tenants'],
    ] as const) {
      const refused = await sim([...argv]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(message);
    }
  }, 120_000);
});
