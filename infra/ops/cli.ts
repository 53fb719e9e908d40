import { type ParseArgsConfig, parseArgs } from 'node:util';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { isTenantId, TENANT_ID_RULE } from '#shared/contract/tenants.ts';
import { ConfigError } from '#shared/core/config.ts';
import { runWhenEntryPoint } from '../cli-entry.ts';
import { QUEUE, TABLE, TENANTS_TABLE } from '../definitions.ts';
import {
  DEFAULT_PORTS,
  isConnectionRefused,
  LOCAL_ENV,
  LocalModeNotRunning,
  type LocalService,
  LocalTableNotFound,
  localClientConfig,
  localEndpoints,
  requireLocalMode,
  requireLocalTables,
} from '../local-mode.ts';
import { describeToolFailure } from './aws-setup.ts';
import {
  type DeadLetter,
  inspect,
  listNotifications,
  NOT_APPLIED,
  NOTIFICATION_STATUSES,
  NotFound,
  type NotificationStatus,
  peekDeadLetters,
  redrive,
  redriveStatus,
  replay,
  type Target,
} from './operations.ts';
import {
  CronofyFakeNotRunning,
  formatReport,
  ReconcileBusy,
  reconcileLocal,
  reconcileStage,
} from './reconcile.ts';
import { StackNotFound, stackOutputs } from './stack-outputs.ts';
import { PurgeIncomplete, PurgeRefused, runTenantPurge } from './tenant-purge.ts';
import { listTenantItems, showTenant, TenantNotFound } from './tenants.ts';

export const USAGE = `Usage: npm run ops -- <command> [options]

Operator commands, against local mode (default) or a deployed stage (--stage).

Commands
  redrive                         move every dead-lettered message back to the notification queue
                                  (AWS: starts an SQS message move task; local mode: moves them now)
  redrive --status                the move task's progress (AWS); in local mode, messages left in the DLQ
  replay <notification_id> [--tenant <tenant_id>]
                                  re-apply a stored notification through the worker (at most once);
                                  --tenant for one that arrived at that tenant's URL (list shows its tenant)
  inspect <scheduling_request_id> the record and its notification history (bodies left out)
  list [--status S]... [--since ISO] [--limit N] [--tenant ID]
                                  notification records with status S, one of
                                  ${NOTIFICATION_STATUSES.join(', ')};
                                  default: every status but applied; --tenant: of that tenant only. Ids,
                                  type, status, received_at and reason only, never a body value. Scans the
                                  table.
  reconcile [id…] [--all-open] [--dry-run]
                                  re-read scheduling requests from Cronofy and apply what changed under the
                                  ordering rules (a change is a missed notification): the ids given, and/or
                                  every open request (--all-open; the default without ids). --dry-run reports
                                  without writing. Local mode: runs here against the Cronofy fake; --stage:
                                  invokes the stage's reconcile function. Exit 1 when some failed.
  tenant list                     the tenants (id, name, status, client secrets count, times); never a token
                                  or a secret
  tenant show <tenant_id>         one tenant, and when its Organization Connect token expires
  tenant purge <tenant_id> [--dry-run]
                                  delete every record carrying that tenant_id, after DELETE /tenants/{id}
                                  (a tenant still registered is refused), with a progress line per page
                                  scanned; safe to interrupt and run again. --dry-run counts them. Scans
                                  the table.
  dlq peek [--max N]              the dead-lettered messages (id, type, receive count, last error) without
                                  consuming them: each is made visible again at once (default --max 50)

Options
  --stage <name>   the deployed stack CronofyNotifications-<name> (AWS credentials and region from the usual
                   AWS_* environment / profile)
  --region <r>     its region, when not the default one
  --json           print JSON instead of text (list, dlq peek, inspect, reconcile, tenant list, tenant purge)
  --help           this text

Local mode: the same variables as npm start find it: ${LOCAL_ENV.dynamoDbPort} (${DEFAULT_PORTS.DYNAMODB_PORT}), ${LOCAL_ENV.sqsPort} (${DEFAULT_PORTS.SQS_PORT}), ${LOCAL_ENV.tableName}
(${TABLE.localName}), ${LOCAL_ENV.tenantsTableName} (tenant: ${TENANTS_TABLE.localName}, or <TABLE_NAME>-tenants),
${LOCAL_ENV.cronofyApiPort} (${DEFAULT_PORTS.CRONOFY_API_PORT}, for reconcile). Run \`npm start\` first.

Exit status: 0 done; 1 failed (local mode not running, stack or record not found); 2 usage error.`;

const usageHint = (message: string) =>
  `${message}\nRun \`npm run ops -- --help\` for every command and option.`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;
const COMMON: Options = {
  stage: { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};
const COMMANDS: Record<string, Options> = {
  redrive: { status: { type: 'boolean' } },
  replay: { tenant: { type: 'string' } },
  inspect: {},
  list: {
    status: { type: 'string', multiple: true },
    since: { type: 'string' },
    limit: { type: 'string' },
    tenant: { type: 'string' },
  },
  dlq: { max: { type: 'string' } },
  reconcile: { 'all-open': { type: 'boolean' }, 'dry-run': { type: 'boolean' } },
  tenant: { 'dry-run': { type: 'boolean' } },
};

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

/** The emulators each command uses in local mode: only those must be running (inspect and list read the table). */
const LOCAL_SERVICES: Record<string, readonly LocalService[]> = {
  redrive: ['sqs'],
  replay: ['dynamodb', 'sqs'],
  inspect: ['dynamodb'],
  list: ['dynamodb'],
  dlq: ['sqs'],
  tenant: ['dynamodb'],
};

/** The tables each command reads in local mode: checked first, so a wrong TABLE_NAME is named as such. */
const LOCAL_TABLES: Record<string, readonly ('records' | 'tenants')[]> = {
  replay: ['records'],
  inspect: ['records'],
  list: ['records'],
  tenant: ['tenants', 'records'],
};

async function localTarget(env: NodeJS.ProcessEnv, command: string): Promise<Target> {
  const endpoints = localEndpoints(env);
  const services = LOCAL_SERVICES[command] ?? [];
  await requireLocalMode(endpoints, services);
  const ddb = new DynamoDBClient(localClientConfig(endpoints.dynamodb));
  await requireLocalTables(ddb, endpoints, LOCAL_TABLES[command] ?? []);
  const sqs = new SQSClient(localClientConfig(endpoints.sqs));
  // The queues' URLs come from the SQS emulator: asked only by the commands that use it.
  const url = async (name: string) =>
    services.includes('sqs')
      ? ((await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl ?? '')
      : '';
  return {
    ddb,
    sqs,
    tableName: endpoints.tableName,
    tenantsTableName: endpoints.tenantsTableName,
    queueUrl: await url(QUEUE.localName),
    dlqUrl: await url(QUEUE.dlqLocalName),
    local: true,
  };
}

async function stageTarget(stage: string, region: string | undefined): Promise<Target> {
  const outputs = await stackOutputs(stage, ['TableName', 'QueueUrl', 'DeadLetterQueueUrl'], region);
  const config = region ? { region } : {};
  return {
    ddb: new DynamoDBClient(config),
    sqs: new SQSClient(config),
    tableName: outputs.TableName ?? '',
    ...(outputs.TenantsTableName ? { tenantsTableName: outputs.TenantsTableName } : {}),
    queueUrl: outputs.QueueUrl ?? '',
    dlqUrl: outputs.DeadLetterQueueUrl ?? '',
    local: false,
    ...(outputs.WorkerLogGroupName
      ? { workerLogGroup: outputs.WorkerLogGroupName, logs: new CloudWatchLogsClient(config) }
      : {}),
  };
}

function whole(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${name} must be a whole number ≥ 1, got "${value}"`);
  return n;
}

function parseCommand(argv: string[]) {
  // The command decides which options exist (`--status` is a flag of redrive and a value of list).
  const loose = parseArgs({ args: argv, strict: false, allowPositionals: true, options: COMMON });
  const command = loose.positionals[0];
  if (loose.values.help || command === undefined) return { command, help: true as const };
  const options = COMMANDS[command];
  if (!options) throw new UsageError(`Unknown command: ${command}`);
  try {
    const parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { ...COMMON, ...options },
    });
    return { command, help: false as const, values: parsed.values, args: parsed.positionals.slice(1) };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatDeadLetters(letters: DeadLetter[], local: boolean): string {
  if (letters.length === 0) return 'The dead-letter queue is empty: nothing to redrive.';
  const lines = [
    `${letters.length} message(s) in the dead-letter queue (peeked, none consumed; each is visible again):`,
  ];
  lines.push(
    table([
      ['message id', 'type', 'receives', 'received at', 'notification id', 'Cronofy-Notification-ID'],
      ...letters.map((l) => [
        l.messageId,
        l.type,
        String(l.receiveCount),
        l.receivedAt ?? '-',
        l.notificationId ?? '-',
        l.headerId ?? '-',
      ]),
    ]),
  );
  for (const letter of letters)
    if (letter.lastError) lines.push(`  ${letter.messageId} last error: ${letter.lastError}`);
  lines.push(
    local
      ? 'Last errors are not kept in local mode: the npm start console shows each failure with its messageId.'
      : letters.some((l) => l.lastError)
        ? ''
        : "No worker error found for these messages in the last 14 days of the worker's log group.",
    'Move them back with: npm run ops -- redrive',
  );
  return lines.filter(Boolean).join('\n');
}

export async function runOps(argv: string[], io: Io): Promise<number> {
  let parsed: ReturnType<typeof parseCommand>;
  try {
    parsed = parseCommand(argv);
    if (parsed.help) {
      if (parsed.command === undefined && !argv.some((a) => a === '--help' || a === '-h')) {
        io.stderr(`No command given.\n\n${USAGE}`);
        return 2;
      }
      io.stdout(USAGE);
      return 0;
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // An unknown command gets the list of commands; a bad option only its message, which scrolls away otherwise.
    io.stderr(
      error.message.startsWith('Unknown command') ? `${error.message}\n\n${USAGE}` : usageHint(error.message),
    );
    return 2;
  }
  const { command, values, args } = parsed;
  const stage = values.stage as string | undefined;
  const json = values.json === true;
  const usage = (message: string) => {
    io.stderr(message.startsWith('Unknown command') ? `${message}\n\n${USAGE}` : usageHint(message));
    return 2;
  };

  // Validate everything before reaching for a service.
  let listOptions: Parameters<typeof listNotifications>[1] | undefined;
  let max = 50;
  try {
    if ((command === 'replay' || command === 'inspect') && !args[0])
      return usage(
        `${command} needs ${command === 'replay' ? 'a notification_id' : 'a scheduling_request_id'}`,
      );
    if (command === 'replay' && values.tenant !== undefined && !isTenantId(values.tenant))
      return usage(`--tenant must be a tenant id (${TENANT_ID_RULE})`);
    if (command === 'dlq' && args[0] !== 'peek')
      return usage(`Unknown dlq command: ${args[0] ?? '(none)'}; use dlq peek`);
    if (command === 'dlq') max = whole(values.max as string | undefined, 'max', 50);
    if (command === 'tenant') {
      if (args[0] === 'purge') {
        if (!isTenantId(args[1])) return usage(`tenant purge needs a tenant_id: ${TENANT_ID_RULE}`);
      } else if (!(args[0] === 'list' || (args[0] === 'show' && args[1])))
        return usage(
          args[0] === 'show'
            ? 'tenant show needs a tenant_id'
            : `Unknown tenant command: ${args[0] ?? '(none)'}`,
        );
    }
    if (command === 'list') {
      const statuses = ((values.status as string[] | undefined) ?? []).flatMap((s) => s.split(','));
      for (const status of statuses) {
        if (!(NOTIFICATION_STATUSES as readonly string[]).includes(status))
          return usage(`--status must be one of ${NOTIFICATION_STATUSES.join(', ')}, got "${status}"`);
      }
      const since = values.since as string | undefined;
      const sinceDate = since === undefined ? undefined : new Date(since);
      if (sinceDate && Number.isNaN(sinceDate.getTime()))
        return usage(`--since must be an ISO 8601 date or time, e.g. 2026-01-31T00:00:00Z, got "${since}"`);
      const tenant = values.tenant as string | undefined;
      if (tenant !== undefined && !isTenantId(tenant))
        return usage(`--tenant must be a tenant_id: ${TENANT_ID_RULE}`);
      listOptions = {
        statuses: statuses.length > 0 ? (statuses as NotificationStatus[]) : NOT_APPLIED,
        ...(tenant !== undefined ? { tenant } : {}),
        ...(sinceDate ? { since: sinceDate } : {}),
        limit: whole(values.limit as string | undefined, 'limit', 1000),
      };
    }
  } catch (error) {
    if (error instanceof UsageError) return usage(error.message);
    throw error;
  }

  if (command === 'reconcile') {
    const ids = args;
    const bad = ids.find((id) => !/^[A-Za-z0-9_-]{1,256}$/.test(id));
    if (bad !== undefined) return usage(`not a scheduling request id: "${bad.slice(0, 64)}"`);
    const request = {
      ids,
      allOpen: values['all-open'] === true || ids.length === 0,
      dryRun: values['dry-run'] === true,
    };
    const report = stage
      ? await reconcileStage(request, stage, values.region as string | undefined)
      : await reconcileLocal(request, io.env);
    io.stdout(json ? JSON.stringify(report, null, 2) : formatReport(report, stage ? 'stage' : 'local'));
    return report.failed.length > 0 || report.error ? 1 : 0;
  }

  const target = stage
    ? await stageTarget(stage, values.region as string | undefined)
    : await localTarget(io.env, command);
  try {
    switch (command) {
      case 'redrive': {
        if (values.status) {
          const status = await redriveStatus(target);
          if (status.local) {
            io.stdout(
              `Local mode has no message move tasks: npm run ops -- redrive moves every message before it returns. ` +
                `${status.waiting} message(s) in the dead-letter queue now.`,
            );
          } else {
            io.stdout(JSON.stringify(status.task ?? { status: 'no move task' }, null, 2));
          }
          return 0;
        }
        const result = await redrive(target);
        io.stdout(
          result.taskHandle
            ? `Message move task started (${result.taskHandle}). Follow it with: npm run ops -- redrive --status --stage ${stage}`
            : `Moved ${result.moved} message(s) from the DLQ back to the notification queue.`,
        );
        return 0;
      }
      case 'replay': {
        const id = args[0] as string;
        const result = await replay(target, id, values.tenant as string | undefined);
        io.stdout(
          `Replayed ${id} (type ${String(result.type)}, was ${String(result.previousStatus)}). ` +
            'The worker applies it at most once: an already-applied notification changes nothing.',
        );
        return 0;
      }
      case 'inspect': {
        io.stdout(JSON.stringify(await inspect(target, args[0] as string), null, 2));
        return 0;
      }
      case 'list': {
        const options = listOptions as NonNullable<typeof listOptions>;
        const { notifications, truncated } = await listNotifications(target, options);
        if (json) {
          io.stdout(JSON.stringify(notifications, null, 2));
          return 0;
        }
        const what = `${notifications.length} notification(s)${options.tenant ? ` of tenant ${options.tenant}` : ''} with status ${options.statuses.join(', ')}${options.since ? ` since ${options.since.toISOString()}` : ''} in ${target.tableName}${truncated ? ` (the latest ${options.limit}; --limit shows more)` : ''}`;
        io.stdout(
          notifications.length === 0
            ? `${what}.`
            : `${what}:\n${table([
                ['received at', 'status', 'type', 'notification id', 'tenant', 'reason'],
                ...notifications.map((n) => [
                  n.received_at,
                  n.status,
                  n.type ?? '(none)',
                  n.notification_id,
                  // A tenant URL's (signed_by set) needs `replay --tenant`; an inherited one is shown in ().
                  n.tenant_id === undefined
                    ? ''
                    : n.signed_by === undefined
                      ? `(${n.tenant_id})`
                      : n.tenant_id,
                  n.reason ?? '',
                ]),
              ])}`,
        );
        return 0;
      }
      case 'tenant': {
        if (args[0] === 'purge')
          return await runTenantPurge(
            target,
            args[1] as string,
            { dryRun: values['dry-run'] === true, json },
            io,
          );
        if (!target.tenantsTableName)
          throw new StackNotFound('the stack has no TenantsTableName output: deploy this version first');
        if (args[0] === 'show') {
          io.stdout(
            JSON.stringify(await showTenant(target.ddb, target.tenantsTableName, args[1] as string), null, 2),
          );
          return 0;
        }
        const tenants = await listTenantItems(target.ddb, target.tenantsTableName);
        io.stdout(
          json
            ? JSON.stringify(tenants, null, 2)
            : tenants.length === 0
              ? `No tenants in ${target.tenantsTableName}.`
              : `${tenants.length} tenant(s) in ${target.tenantsTableName}:\n${table([
                  ['tenant id', 'status', 'client secrets', 'connected at', 'disconnected at', 'name'],
                  ...tenants.map((t) => [
                    String(t.tenant_id),
                    String(t.status),
                    String(t.client_secrets_count ?? 0),
                    String(t.connected_at ?? '-'),
                    String(t.disconnected_at ?? '-'),
                    String(t.name ?? ''),
                  ]),
                ])}`,
        );
        return 0;
      }
      case 'dlq': {
        const letters = await peekDeadLetters(target, { max });
        io.stdout(json ? JSON.stringify(letters, null, 2) : formatDeadLetters(letters, target.local));
        return 0;
      }
    }
    return usage(`Unknown command: ${command}`);
  } finally {
    target.ddb.destroy();
    target.sqs.destroy();
    target.logs?.destroy();
  }
}

/** The message a user sees for a failure: what to do, not a stack trace. */
export function explain(error: unknown, env: NodeJS.ProcessEnv): string {
  if (
    error instanceof NotFound ||
    error instanceof StackNotFound ||
    error instanceof LocalModeNotRunning ||
    error instanceof LocalTableNotFound ||
    error instanceof ReconcileBusy ||
    error instanceof PurgeIncomplete ||
    error instanceof PurgeRefused ||
    error instanceof CronofyFakeNotRunning ||
    error instanceof ConfigError ||
    error instanceof TenantNotFound
  )
    return error.message;
  if (isConnectionRefused(error)) {
    const endpoints = localEndpoints(env);
    return `local mode is not running at ${endpoints.dynamodb} / ${endpoints.sqs}, or stopped while this ran; start it with npm start`;
  }
  return describeToolFailure('ops', error, env);
}

runWhenEntryPoint(
  import.meta.url,
  () =>
    runOps(process.argv.slice(2), {
      stdout: (text) => console.log(text),
      stderr: (text) => console.error(text),
      env: process.env,
    }),
  (error) => explain(error, process.env),
);
