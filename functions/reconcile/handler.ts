import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoReconcileStore } from '#shared/aws/reconcile-store.ts';
import { secretsManagerFromEnv } from '#shared/aws/secrets.ts';
import { tenantStoreFromEnv } from '#shared/aws/tenant-store.ts';
import { ENV, requiredEnv, wholeNumberEnv } from '#shared/contract/env.ts';
import type { TenantStatus } from '#shared/contract/tenants.ts';
import { once } from '#shared/core/lazy.ts';
import { createLogger } from '#shared/core/logger.ts';
import { countersLine, gaugesLine } from '#shared/core/metrics.ts';
import { cronofyClientFromEnv, cronofyErrorMetric } from '#shared/cronofy/from-env.ts';
import {
  type ReconcileDeps,
  type ReconcileReport,
  reconcile,
  type SkippedTenant,
} from '#shared/scheduling/reconcile.ts';
import { tenantCredentialsFromEnv } from '../tenants/credentials-from-env.ts';

/**
 * Entry adapter of reconciliation: invoked by the schedule (`{}`: every open request) and by
 * `npm run ops -- reconcile --stage <s>` (`{"ids": [...], "allOpen": bool, "dryRun": bool}`), so that every
 * Cronofy call of a deployment comes from a function with its reserved share of the rate limit. Never throws
 * for a Cronofy outage (a retried invocation would only call a failing Cronofy again): the report says what
 * was not reached, the `ReconciliationFailures` metric raises the alarm, and the next run picks it up.
 */

export interface ReconcileEvent {
  ids?: unknown;
  allOpen?: unknown;
  dryRun?: unknown;
}

export interface ReconcileHandlerDeps extends ReconcileDeps {
  maxCalls: number;
  writeMetric?: (line: string) => void;
  metricsNamespace?: string;
  /** Tenants per status: written as gauges after each run, for the dashboard's tenants row. */
  countTenants?: () => Promise<Record<TenantStatus, number>>;
}

/** Tenant status → its gauge on the dashboard. */
export const TENANT_STATUS_METRICS: Record<TenantStatus, string> = {
  registered: 'TenantsRegistered',
  connected: 'TenantsConnected',
  disconnected: 'TenantsDisconnected',
};

export function parseReconcileEvent(event: ReconcileEvent | null | undefined): {
  ids: string[];
  allOpen: boolean;
  dryRun: boolean;
} {
  const ids = Array.isArray(event?.ids)
    ? event.ids.filter((id): id is string => typeof id === 'string' && /^[A-Za-z0-9_-]{1,256}$/.test(id))
    : [];
  // The schedule sends no ids: every open request.
  const allOpen = event?.allOpen === true || ids.length === 0;
  return { ids, allOpen, dryRun: event?.dryRun === true };
}

export function makeHandler(deps: ReconcileHandlerDeps) {
  return async (event?: ReconcileEvent | null): Promise<ReconcileReport> => {
    const { ids, allOpen, dryRun } = parseReconcileEvent(event);
    const cronofyErrors: Record<string, number> = {};
    const report = await reconcile(
      { ids, allOpen, dryRun, maxCalls: deps.maxCalls },
      {
        ...deps,
        onCronofyError: (error, tenantId) => {
          const name = cronofyErrorMetric(error, tenantId);
          cronofyErrors[name] = (cronofyErrors[name] ?? 0) + 1;
        },
      },
    );
    if (!dryRun && deps.writeMetric) {
      const line = countersLine(
        {
          ...cronofyErrors,
          // A change is a delivery Cronofy gave up on (or one still to come): the alarm looks at it.
          ReconciliationChanges: report.changed.length,
          ReconciliationChecked: report.checked,
          ReconciliationFailures: report.failed.length,
          ReconciliationCronofyCalls: report.calls,
          ...skippedMetrics(report),
        },
        deps.clock(),
        deps.metricsNamespace,
      );
      if (line) deps.writeMetric(line);
      if (deps.countTenants) {
        try {
          const counts = await deps.countTenants();
          deps.writeMetric(
            gaugesLine(
              Object.fromEntries(
                Object.entries(counts).map(([status, n]) => [
                  TENANT_STATUS_METRICS[status as TenantStatus],
                  n,
                ]),
              ),
              deps.clock(),
              deps.metricsNamespace,
            ),
          );
        } catch (error) {
          // A gauge missed is no reason to fail the run: the next one writes it.
          deps.logger.warn('tenants not counted', { error: (error as Error).name });
        }
      }
    }
    return report;
  };
}

/** Tenant state → the metric counting the tenants a run skipped in it (graphed per state on the dashboard). */
export const SKIPPED_TENANT_METRICS: Record<SkippedTenant['reason'], string> = {
  unknown_tenant: 'ReconciliationSkippedUnknownTenants',
  tenant_not_connected: 'ReconciliationSkippedTenantsNotConnected',
  tenant_disconnected: 'ReconciliationSkippedTenantsDisconnected',
};

/** Skips are not failures (no alarm): counted, so a tenant left disconnected shows on the dashboard. */
function skippedMetrics(report: ReconcileReport): Record<string, number> {
  const counters: Record<string, number> = {
    ReconciliationSkippedTenants: report.skippedTenants.length,
    ReconciliationSkippedRequests: report.skipped.length,
  };
  for (const skipped of report.skippedTenants) {
    const name = SKIPPED_TENANT_METRICS[skipped.reason];
    counters[name] = (counters[name] ?? 0) + 1;
  }
  return counters;
}

function depsFromEnv(env: NodeJS.ProcessEnv = process.env): ReconcileHandlerDeps {
  const tableName = requiredEnv(env, ENV.tableName);
  const maxCalls = wholeNumberEnv(env, ENV.reconcileMaxCalls, 1, 'must be a whole number ≥ 1');
  const logger = createLogger('reconcile');
  const secrets = secretsManagerFromEnv(env);
  const writeMetric = (line: string) => process.stdout.write(`${line}\n`);
  return {
    api: cronofyClientFromEnv(
      env,
      secrets,
      logger,
      tenantCredentialsFromEnv(env, secrets, logger, writeMetric),
    ),
    store: new DynamoReconcileStore(
      new DynamoDBClient({ requestHandler: { connectionTimeout: 1000, requestTimeout: 5000 } }),
      tableName,
    ),
    clock: () => new Date(),
    logger,
    maxCalls,
    writeMetric,
    metricsNamespace: requiredEnv(env, ENV.metricsNamespace),
    countTenants: () => tenantStoreFromEnv(env).countTenants(),
  };
}

const live = once(() => makeHandler(depsFromEnv()));
export const handler = (event?: ReconcileEvent | null) => live()(event);
