import { describe, expect, it } from 'vitest';
import type { Item, StateWrite } from '#shared/contract/ordering.ts';
import { silentLogger } from '#shared/core/logger.ts';
import type { ReconcileStore } from '#shared/core/ports.ts';
import { CredentialRejectedError, CronofyUnavailableError } from '#shared/cronofy/api-errors.ts';
import { type ReconcileOptions, reconcile } from '#shared/scheduling/reconcile.ts';
import { makeHandler } from '../../functions/reconcile/handler.ts';
import { fakeTenantCredentials, TenantScopedApi } from '../support/memory-scheduling.ts';

/**
 * Reconciliation of many tenants' requests: each read with the credential of the tenant its record names,
 * tenants that cannot be called for skipped and counted (never failed, never calling Cronofy), and one tenant's
 * refused credential not stopping the others.
 */

const NOW = new Date('2026-11-23T10:00:00.000Z');

/** Open requests by id → the tenant of their record (undefined: the deployment's own). */
const OPEN: Record<string, string | undefined> = {
  srq_a1: 'a',
  srq_c1: 'c',
  srq_own1: undefined,
  srq_b1: 'b',
  srq_a2: 'a',
  srq_n1: 'n',
  srq_z1: 'zed',
  srq_c2: 'c',
};

class MemoryReconcileStore implements ReconcileStore {
  readonly reconciled: string[] = [];
  /** `reconciled_at` of each request a run reached. */
  readonly reconciledAt = new Map<string, string>();
  constructor(private readonly open: Record<string, string | undefined> = OPEN) {}
  async openRequests(_now: string, limit: number) {
    return Object.keys(this.open).slice(0, limit);
  }
  async closeEnded() {
    return [];
  }
  async records(ids: readonly string[]) {
    const found = new Map<string, Item>();
    for (const id of ids) {
      if (!(id in this.open)) continue;
      const tenant = this.open[id];
      const reconciledAt = this.reconciledAt.get(id);
      found.set(id, {
        entity: 'scheduling_request',
        scheduling_request_id: id,
        status: 'pending',
        ...(tenant ? { tenant_id: tenant } : {}),
        ...(reconciledAt ? { reconciled_at: reconciledAt } : {}),
      });
    }
    return found;
  }
  async reconcile(
    id: string,
    current: Item | undefined,
    build: (current: Item | undefined) => StateWrite | undefined,
    reconciledAt: string,
  ) {
    this.reconciled.push(id);
    this.reconciledAt.set(id, reconciledAt);
    return build(current) ? ('applied' as const) : ('unchanged' as const);
  }
}

function setup(open = OPEN) {
  const credentials = fakeTenantCredentials();
  const api = new TenantScopedApi(credentials, (id) => OPEN[id]);
  const store = new MemoryReconcileStore(open);
  const deps = { api, store, clock: () => NOW, logger: silentLogger };
  const run = (options: Partial<ReconcileOptions> = {}) =>
    reconcile({ allOpen: true, maxCalls: 10, ...options }, deps);
  return { api, store, deps, run };
}

/** The queries sorted by tenant (the deployment's own first): the run's turn order is drawn per run. */
const byTenant = <T extends { tenant?: string }>(queries: readonly T[]) =>
  [...queries].sort((x, y) => (x.tenant ?? '').localeCompare(y.tenant ?? ''));

describe('reconcile: requests of many tenants', () => {
  it("reads each tenant's requests with its own credential, grouped, each group in the index's order", async () => {
    const { api, run } = setup();
    const report = await run();
    expect(byTenant(api.queries)).toEqual([
      { tenant: undefined, credential: 'deployment_credential', ids: ['srq_own1'] },
      { tenant: 'a', credential: 'OU_token_a', ids: ['srq_a1', 'srq_a2'] },
      { tenant: 'b', credential: 'OU_token_b', ids: ['srq_b1'] },
    ]);
    expect(report.calls).toBe(3);
    expect(report.checked).toBe(4);
    expect(report.notFound).toEqual([]);
    expect(report.failed).toEqual([]);
  });

  it('skips and counts the requests of disconnected, not connected and unknown tenants, without failing or calling Cronofy for them', async () => {
    const { api, store, run } = setup();
    const report = await run();
    expect(report.skipped.sort()).toEqual(['srq_c1', 'srq_c2', 'srq_n1', 'srq_z1']);
    expect(report.skippedTenants).toEqual([
      { tenantId: 'c', reason: 'tenant_disconnected', requests: 2 },
      { tenantId: 'n', reason: 'tenant_not_connected', requests: 1 },
      { tenantId: 'zed', reason: 'unknown_tenant', requests: 1 },
    ]);
    expect(report.error).toBeUndefined();
    expect(report.remaining).toBe(0);
    expect(api.queries.map((query) => query.tenant)).not.toContain('c');
    expect(store.reconciled).not.toContain('srq_c1');
    // The next run skips them the same way: nothing piles up, nothing is retried in a loop.
    const again = await run();
    expect(again.skipped).toHaveLength(4);
    expect(again.calls).toBe(3);
  });

  it("a skipped tenant uses none of the run's calls", async () => {
    const { api, run } = setup();
    // Two calls: the disconnected tenant's group comes between a's and the deployment's own, and takes none.
    const report = await run({ maxCalls: 2 });
    expect(report.calls).toBe(2);
    expect(api.queries).toHaveLength(2);
    for (const query of api.queries) expect(['a', 'b', undefined]).toContain(query.tenant);
    // Every request is accounted for: read, skipped before the cap (no call spent), or left for the next run.
    expect(report.checked + report.skipped.length + report.remaining).toBe(8);
    expect(report.remaining).toBeGreaterThan(0);
  });

  it('with more tenants than calls, the turn order changes from run to run: every tenant gets its turn', async () => {
    const { api, deps } = setup();
    for (let minute = 0; minute < 12; minute++) {
      const clock = () => new Date(NOW.getTime() + minute * 60_000);
      await reconcile({ allOpen: true, maxCalls: 1 }, { ...deps, clock });
    }
    // One call per run: a fixed order (the index lists a's requests first, they end soonest) would read a alone.
    const firsts = api.queries.map((query) => query.tenant ?? '(deployment)');
    expect(firsts).toHaveLength(12);
    expect(new Set(firsts)).toEqual(new Set(['a', 'b', '(deployment)']));
    // The same run start draws the same order (a retried invocation reads the same tenants first).
    const again = setup();
    const clock = () => NOW;
    await reconcile({ allOpen: true, maxCalls: 1 }, { ...again.deps, clock });
    await reconcile({ allOpen: true, maxCalls: 1 }, { ...again.deps, clock });
    expect(again.api.queries[0]?.tenant).toBe(again.api.queries[1]?.tenant);
  });

  it("a tenant whose token Cronofy refuses (after the provider's refresh) fails alone; the others are still read", async () => {
    const { api, run } = setup();
    api.failures.set('a', new CredentialRejectedError('query_scheduling_requests', 401));
    const report = await run();
    expect(report.failed).toEqual(['srq_a1', 'srq_a2']);
    expect(byTenant(api.queries).map((query) => query.tenant)).toEqual([undefined, 'a', 'b']);
    expect(report.checked).toBe(2);
    expect(report.error).toBeUndefined();
  });

  it('Cronofy unavailable stops the run for every tenant: the rest is left for the next run', async () => {
    const { api, run } = setup();
    for (const tenant of ['a', 'b', ''])
      api.failures.set(
        tenant,
        new CronofyUnavailableError('query_scheduling_requests', 503, 5, 'server_error', 4),
      );
    const report = await run({ batchSize: 1 });
    expect(api.queries).toHaveLength(1);
    expect(report.failed).toHaveLength(1);
    expect(report.error).toMatch(/CronofyUnavailableError/);
    // The rest, the skipped tenants not yet reached included, is left for the next run.
    expect(report.failed.length + report.skipped.length + report.remaining).toBe(8);
    expect(report.remaining).toBeGreaterThanOrEqual(3);
  });

  it('requests with no record are read with the deployment credential, as before tenants', async () => {
    const { api, run } = setup();
    await run({ allOpen: false, ids: ['srq_unrecorded'] });
    expect(api.queries).toEqual([
      { tenant: undefined, credential: 'deployment_credential', ids: ['srq_unrecorded'] },
    ]);
  });

  it('the scheduled function counts skipped tenants per state and skipped requests, not as failures', async () => {
    const { deps } = setup();
    const lines: string[] = [];
    const handler = makeHandler({ ...deps, maxCalls: 10, writeMetric: (line) => lines.push(line) });
    const report = await handler({});
    expect(report.skippedTenants).toHaveLength(3);
    const metrics = JSON.parse(lines[0] ?? '{}');
    expect(metrics).toMatchObject({
      ReconciliationSkippedTenants: 3,
      ReconciliationSkippedRequests: 4,
      ReconciliationSkippedTenantsDisconnected: 1,
      ReconciliationSkippedTenantsNotConnected: 1,
      ReconciliationSkippedUnknownTenants: 1,
    });
    expect(metrics).not.toHaveProperty('ReconciliationFailures');
  });

  it('writes the tenants per state as gauges after a run, zeros included, and a failed count fails nothing', async () => {
    const { deps } = setup();
    const lines: string[] = [];
    const countTenants = async () => ({ registered: 2, connected: 5, disconnected: 0 });
    await makeHandler({ ...deps, maxCalls: 10, writeMetric: (line) => lines.push(line), countTenants })({});
    const gauges = lines.map((line) => JSON.parse(line)).find((m) => 'TenantsConnected' in m);
    expect(gauges).toMatchObject({ TenantsRegistered: 2, TenantsConnected: 5, TenantsDisconnected: 0 });
    expect(gauges._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name).sort()).toEqual([
      'TenantsConnected',
      'TenantsDisconnected',
      'TenantsRegistered',
    ]);

    const after: string[] = [];
    const failing = async (): Promise<never> => {
      throw new Error('table unreachable');
    };
    const report = await makeHandler({
      ...deps,
      maxCalls: 10,
      writeMetric: (line) => after.push(line),
      countTenants: failing,
    })({});
    expect(report.checked).toBeGreaterThan(0);
    expect(after.some((line) => line.includes('TenantsConnected'))).toBe(false);
    // A dry run writes no metric at all.
    const dry: string[] = [];
    await makeHandler({ ...deps, maxCalls: 10, writeMetric: (line) => dry.push(line), countTenants })({
      dryRun: true,
    });
    expect(dry).toEqual([]);
  });

  it("counts a tenant's refused token apart from the deployment's credential (whose alarm says to fix the secret)", async () => {
    const { api, deps } = setup();
    api.failures.set('a', new CredentialRejectedError('query_scheduling_requests', 401));
    api.failures.set('', new CredentialRejectedError('query_scheduling_requests', 401));
    const lines: string[] = [];
    await makeHandler({ ...deps, maxCalls: 10, writeMetric: (line) => lines.push(line) })({});
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      TenantCredentialRejected: 1,
      CronofyCredentialRejected: 1,
      ReconciliationFailures: 3,
    });
  });
});
