import { describe, expect, it } from 'vitest';
import type { ReconcileReport } from '#shared/scheduling/reconcile.ts';
import { formatReport } from '../../infra/ops/reconcile.ts';

/** `npm run ops -- reconcile`'s summary: the parts add up to the headline. */

const REPORT: ReconcileReport = {
  dryRun: false,
  startedAt: '2026-01-31T00:00:00.000Z',
  durationMs: 1200,
  calls: 1,
  // `checked` counts the requests Cronofy returned: the unknown ones are not in it.
  checked: 2,
  changed: ['srq_changed'],
  unchanged: 1,
  stale: 0,
  notFound: ['srq_unknown_1', 'srq_unknown_2'],
  failed: [],
  skipped: [],
  skippedTenants: [],
  remaining: 0,
  closed: [],
};

describe('formatReport', () => {
  it('counts every id looked at in the headline, unknown ones included', () => {
    expect(formatReport(REPORT).split('\n')[0]).toBe(
      'Reconciled 4 scheduling request(s) with 1 Cronofy call(s) in 1.2 s: 1 changed, 1 unchanged, 2 unknown to Cronofy.',
    );
  });

  it('counts failed and already-newer ones too, in a dry run as well', () => {
    const report = { ...REPORT, dryRun: true, stale: 1, notFound: [], failed: ['srq_a', 'srq_b'] };

    expect(formatReport(report).split('\n')[0]).toBe(
      'Dry run: would reconcile 5 scheduling request(s) with 1 Cronofy call(s) in 1.2 s: 1 would change, 1 unchanged, 1 already newer, 2 failed.',
    );
  });

  it('counts the requests of tenants that cannot be called for as skipped, and names the tenants and why', () => {
    const report: ReconcileReport = {
      ...REPORT,
      notFound: [],
      skipped: ['srq_c1', 'srq_c2', 'srq_z1'],
      skippedTenants: [
        { tenantId: 'c', reason: 'tenant_disconnected', requests: 2 },
        { tenantId: 'z', reason: 'unknown_tenant', requests: 1 },
      ],
    };
    const lines = formatReport(report).split('\n');
    expect(lines[0]).toBe(
      'Reconciled 5 scheduling request(s) with 1 Cronofy call(s) in 1.2 s: 1 changed, 1 unchanged, 3 skipped (tenant cannot be called for).',
    );
    expect(lines).toContain(
      'Skipped 2 tenant(s) (they stay open until the tenant connects again or is purged): c (tenant_disconnected, 2), z (unknown_tenant, 1)',
    );
  });

  it('says with the unknown ids why Cronofy left them out, in local mode naming the fake', () => {
    expect(formatReport(REPORT).split('\n')[2]).toBe(
      'Unknown to Cronofy (its answer left them out: never created in this Cronofy application, or deleted there): srq_unknown_1 srq_unknown_2',
    );
    expect(formatReport(REPORT, 'local').split('\n')[2]).toMatch(
      /^Unknown to Cronofy \(the fake knows only the requests created through POST \/scheduling-requests since npm start began; those of npm run notify .*\): srq_unknown_1 srq_unknown_2$/,
    );
  });
});
