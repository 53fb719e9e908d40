import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient, TooManyRequestsException } from '@aws-sdk/client-lambda';
import { DynamoReconcileStore } from '#shared/aws/reconcile-store.ts';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { silentLogger } from '#shared/core/logger.ts';
import type { CredentialProvider } from '#shared/core/ports.ts';
import { cronofyClient } from '#shared/cronofy/from-env.ts';
import { type ReconcileReport, reconcile } from '#shared/scheduling/reconcile.ts';
import { loadLocalConfig } from '../config.ts';
import { cronofyRateShare } from '../definitions.ts';
import {
  listening,
  localClientConfig,
  localCronofyApiUrl,
  localEndpoints,
  localTenantsTableName,
  requireLocalMode,
} from '../local-mode.ts';
import { localTenantCredentials, localTenantStore } from '../local-tenants.ts';
import { stackOutputs } from './stack-outputs.ts';

/**
 * `npm run ops -- reconcile [id…] [--all-open] [--dry-run]`. Against local mode, the run happens here, against
 * the Cronofy fake `npm start` runs, with one deployed instance's share of the rate limit. Against a stage, the
 * deployed reconcile function is invoked with the same request: every Cronofy call of a deployment comes from a
 * function with its reserved share of the limit, and reserved concurrency 1 makes a manual run and the
 * scheduled one take turns.
 */

export interface ReconcileRequest {
  ids: string[];
  allOpen: boolean;
  dryRun: boolean;
}

export class ReconcileBusy extends Error {
  override readonly name = 'ReconcileBusy';
}

export class CronofyFakeNotRunning extends Error {
  override readonly name = 'CronofyFakeNotRunning';
}

/**
 * `credentials`: the tenant seam, as for the functions; by default local mode's tenants table (its tokens, and
 * the refresh lease shared with npm start's functions), so a tenant's requests are read with its own token.
 */
export async function reconcileLocal(
  request: ReconcileRequest,
  env: NodeJS.ProcessEnv,
  credentials?: CredentialProvider,
): Promise<ReconcileReport> {
  const endpoints = localEndpoints(env);
  await requireLocalMode(endpoints, ['dynamodb']);
  const apiUrl = localCronofyApiUrl(env);
  if (!(await listening(apiUrl)))
    throw new CronofyFakeNotRunning(
      `the Cronofy fake is not running at ${apiUrl}; npm start runs it (give this command the same CRONOFY_API_PORT)`,
    );
  const local = loadLocalConfig(env);
  const ddb = new DynamoDBClient(localClientConfig(endpoints.dynamodb));
  const secrets = new StaticSecrets(local.secrets);
  const tenantCredentials =
    credentials ??
    localTenantCredentials({
      store: localTenantStore(ddb, localTenantsTableName(env, endpoints.tableName), local),
      local,
      secrets,
      apiUrl,
      clock: () => new Date(),
      logger: silentLogger,
    });
  try {
    return await reconcile(
      { ...request, maxCalls: local.config.reconcileMaxCalls },
      {
        api: cronofyClient({
          dataCenter: local.config.dataCenter,
          apiUrl,
          rateLimit: cronofyRateShare(),
          secrets,
          ...(tenantCredentials ? { credentials: tenantCredentials } : {}),
          logger: silentLogger,
        }),
        store: new DynamoReconcileStore(ddb, endpoints.tableName),
        clock: () => new Date(),
        logger: silentLogger,
      },
    );
  } finally {
    ddb.destroy();
  }
}

export async function reconcileStage(
  request: ReconcileRequest,
  stage: string,
  region: string | undefined,
): Promise<ReconcileReport> {
  const outputs = await stackOutputs(stage, ['ReconcileFunctionName'], region);
  const lambda = new LambdaClient(region ? { region } : {});
  try {
    const result = await lambda.send(
      new InvokeCommand({
        FunctionName: outputs.ReconcileFunctionName,
        Payload: Buffer.from(JSON.stringify(request)),
      }),
    );
    const text = Buffer.from(result.Payload ?? new Uint8Array()).toString('utf8');
    if (result.FunctionError) throw new Error(`the reconcile function failed: ${text.slice(0, 500)}`);
    // A stage deployed before tenants reports no skips.
    const report = JSON.parse(text) as Partial<ReconcileReport> &
      Omit<ReconcileReport, 'skipped' | 'skippedTenants'>;
    return { ...report, skipped: report.skipped ?? [], skippedTenants: report.skippedTenants ?? [] };
  } catch (error) {
    if (error instanceof TooManyRequestsException || (error as Error).name === 'TooManyRequestsException')
      throw new ReconcileBusy(
        'a reconciliation is already running (the reconcile function runs one at a time); try again when it ends',
      );
    throw error;
  } finally {
    lambda.destroy();
  }
}

/** Why Cronofy's answer leaves out an id: said with the ids, or "unknown" reads like a fault of ours. */
const UNKNOWN_WHY = {
  stage: '(its answer left them out: never created in this Cronofy application, or deleted there)',
  local:
    '(the fake knows only the requests created through POST /scheduling-requests since npm start began; ' +
    'those of npm run notify or a hand-signed notification exist only in their notification)',
} as const;

/**
 * The report for people: counts, then the ids that changed (each is a missed notification). Every id looked at
 * is in exactly one part (changed, unchanged, already newer, unknown to Cronofy, failed, skipped for its tenant),
 * so the headline is their sum, not `checked` (which leaves out the unknown ones and a failed batch).
 */
export function formatReport(report: ReconcileReport, where: 'local' | 'stage' = 'stage'): string {
  const total =
    report.changed.length +
    report.unchanged +
    report.stale +
    report.notFound.length +
    report.failed.length +
    report.skipped.length;
  const lines = [
    `${report.dryRun ? 'Dry run: would reconcile' : 'Reconciled'} ${total} scheduling request(s) with ` +
      `${report.calls} Cronofy call(s) in ${(report.durationMs / 1000).toFixed(1)} s: ` +
      `${report.changed.length} ${report.dryRun ? 'would change' : 'changed'}, ${report.unchanged} unchanged` +
      `${report.stale > 0 ? `, ${report.stale} already newer` : ''}` +
      `${report.notFound.length > 0 ? `, ${report.notFound.length} unknown to Cronofy` : ''}` +
      `${report.failed.length > 0 ? `, ${report.failed.length} failed` : ''}` +
      `${report.skipped.length > 0 ? `, ${report.skipped.length} skipped (tenant cannot be called for)` : ''}.`,
  ];
  if (report.changed.length > 0)
    lines.push(
      `${report.dryRun ? 'Would change' : 'Changed'} (missed notifications): ${report.changed.join(' ')}`,
    );
  if (report.notFound.length > 0)
    lines.push(`Unknown to Cronofy ${UNKNOWN_WHY[where]}: ${report.notFound.join(' ')}`);
  if (report.failed.length > 0) lines.push(`Failed: ${report.failed.join(' ')}`);
  if (report.skippedTenants.length > 0)
    lines.push(
      `Skipped ${report.skippedTenants.length} tenant(s) (they stay open until the tenant connects again or is purged): ` +
        report.skippedTenants.map((t) => `${t.tenantId} (${t.reason}, ${t.requests})`).join(', '),
    );
  if (report.closed.length > 0) lines.push(`Event ended, no longer reconciled: ${report.closed.length}`);
  if (report.remaining > 0)
    lines.push(`${report.remaining} open request(s) left for the next run (cronofy.reconcileMaxCalls).`);
  if (report.error) lines.push(`Stopped early: ${report.error}`);
  return lines.join('\n');
}
