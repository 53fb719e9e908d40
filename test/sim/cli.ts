import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { loadLocalConfig } from '../../infra/config.ts';
import { dynamoClient } from '../../infra/local/services.ts';
import {
  LocalModeNotRunning,
  LocalTableNotFound,
  listening,
  localEndpoints,
  requireLocalTables,
} from '../../infra/local-mode.ts';
import { explainAwsSetup } from '../../infra/ops/aws-setup.ts';
import { type SseSubscription, subscribeEvents } from '../support/sse.ts';
import {
  API_REQUESTS_HELP,
  type ApiRequestsSettings,
  NOT_WITH_API_REQUESTS,
  runApiRequests,
} from './api-requests.ts';
import {
  CRONOFY_BACKOFF,
  CRONOFY_MAX_CONSECUTIVE_FAILURES,
  CRONOFY_TIMEOUT_MS,
  type DeliverySummary,
} from './delivery.ts';
import { checkServedEvents, type EventsReport, eventsOk } from './events.ts';
import { type ProgressStream, progressBar } from './progress.ts';
import { SCENARIO_HELP, SCENARIOS, type ScenarioName } from './scenarios.ts';
import { simulate } from './simulate.ts';
import { runTenants, TENANTS_HELP, type TenantsSettings } from './tenants.ts';
import { isExactlyOnce, readTableStream, type StreamReport, type VerifyReport, verifyRun } from './verify.ts';

/**
 * `npm run sim -- …`: a Cronofy stand-in. Sends signed notifications to any URL, behaves like Cronofy on
 * delivery (retries, duplicates, bursts, rotation), prints what happened, and can check the table afterwards.
 */

/** Local mode, found the way every local tool finds it (PORT, LOCAL_URL, DYNAMODB_PORT, TABLE_NAME). */
const localUrl = (env: NodeJS.ProcessEnv) => `${localEndpoints(env).gateway}/cronofy/notifications`;
const localDynamoDb = (env: NodeJS.ProcessEnv) => localEndpoints(env).dynamodb;

/** Answers of 401 in a row after which the run stops: the receiver does not know the secret we sign with. */
export const REJECTED_SIGNATURE_LIMIT = 5;
/** Connection errors in a row after which the run stops: nothing is listening any more. */
export const UNREACHABLE_LIMIT = 20;

/** Wrap to 110 columns: the first line indented by `indent`, the rest by `hanging`. */
function wrap(text: string, indent: number, hanging: number, width = 110): string {
  const lines: string[] = [];
  let line = ' '.repeat(indent);
  for (const word of text.split(' ')) {
    if (line.trim() !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = ' '.repeat(hanging);
    }
    line += line.trim() === '' ? word : ` ${word}`;
  }
  return [...lines, line].join('\n');
}

export function usage(env: NodeJS.ProcessEnv = process.env): string {
  const scenarios = SCENARIOS.map((name) => wrap(`${name.padEnd(13)} ${SCENARIO_HELP[name]}`, 6, 20)).join(
    '\n',
  );
  return `Usage: npm run sim -- [options]

Sends realistic, signed Cronofy push notifications to a receiver (local mode or a deployed API), the way
Cronofy delivers them, and reports what happened. With --verify, checks afterwards that every accepted
notification had exactly one effect on the table.

Sending
  --url URL              notifications route (default ${localUrl(env)})
  --secret SECRET        client secret to sign with; repeat it (or comma-separate) to sign like Cronofy during
                         a rotation, one header value per secret (default: CRONOFY_CLIENT_SECRETS, else
                         cronofy.local.clientSecrets in cdk.json: local mode's)
  --scenario NAME        what to send (default mixed):
${scenarios}
  --count N              distinct notifications to send (default 100)
  --rate R               new notifications per second; 0 = as fast as --concurrency allows (default 50)
  --concurrency C        requests in flight at most (default 8)
  --duplicates RATIO     share of notifications delivered twice, same bytes and id, 0–1 (default 0.05)
  --seed N               reproduce the shape of a run (identifiers stay unique per run)

Delivery, as Cronofy does it
  --timeout MS           no answer within this is a failure (default ${CRONOFY_TIMEOUT_MS}, as Event Triggers)
  --max-failures N       give up after N consecutive failures (default ${CRONOFY_MAX_CONSECUTIVE_FAILURES})
  --backoff MS           first retry delay, doubling each time (default ${CRONOFY_BACKOFF.initialMs})
  --backoff-max MS       longest retry delay (default ${CRONOFY_BACKOFF.maxMs})

Verifying
  --verify               afterwards, check the table: one notification record per key, each effect once;
                         against local mode also its downstream events (GET /_local/events): one per
                         visible change, in order per record, none for duplicates
  --table NAME           table to check (default ${localEndpoints(env).tableName} on local DynamoDB: TABLE_NAME)
  --dynamodb-endpoint U  DynamoDB endpoint (default ${localDynamoDb(env)} unless --table names an AWS table;
                         an AWS table is read with the default AWS credentials and region)
  --region REGION        AWS region for an AWS table (default: AWS_REGION / your AWS config)
  --verify-timeout MS    how long to wait for the pipeline to catch up (default 60000)
  --stream               also count effects on the table's stream (local DynamoDB only)

${API_REQUESTS_HELP}

${TENANTS_HELP}

Output
  --json                 print the summary as JSON on stdout
  --no-progress          no progress line on stderr (otherwise one at least every 2 s: sent, accepted,
                         retrying, given up)
  --help                 this text

Local mode is found the way npm start sets it up: PORT (3000) or LOCAL_URL, DYNAMODB_PORT (8000), TABLE_NAME.
The run stops early when the receiver answers 401 ${REJECTED_SIGNATURE_LIMIT} times in a row (it rejects our
signature: wrong --secret) or cannot be reached ${UNREACHABLE_LIMIT} times in a row.

Exit status: 0 when every notification was accepted (and, with --verify, applied exactly once);
1 when one was given up, lost, applied twice, went back in time or was kept wrongly, or the run stopped early
(--api-requests: when a request failed, a notified step was not applied or a record does not end as the fake
holds it; --tenants: on any discrepancy of its summary); 2 for a usage error.

Examples
  npm start                                   # in another terminal: local mode
  npm run sim -- --count 1000 --duplicates 0.3 --concurrency 16 --verify --stream
  npm run sim -- --scenario top-of-hour --count 500 --rate 0
  npm run sim -- --secret CRN_new --secret CRN_old --scenario lifecycle
  npm run sim -- --api-requests 50 --silent-share 0.3
  npm run sim -- --tenants 5
  npm run sim -- --url https://abc.execute-api.eu-west-1.amazonaws.com/cronofy/notifications \\
                 --secret "$CRONOFY_CLIENT_SECRET" --verify --table MyStack-Records1234`;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function number(
  value: string | undefined,
  name: string,
  fallback: number,
  check: (n: number) => boolean,
  rule: string,
) {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || !check(parsed)) {
    throw new UsageError(`--${name} must be ${rule}, got "${value}"`);
  }
  return parsed;
}

export interface SimOptions {
  url: string;
  secrets: string[];
  scenario: ScenarioName;
  count: number;
  rate: number;
  concurrency: number;
  duplicates: number;
  seed: number;
  timeoutMs: number;
  maxFailures: number;
  backoffMs: number;
  backoffMaxMs: number;
  verify: boolean;
  table: string;
  dynamodbEndpoint: string | undefined;
  region: string | undefined;
  verifyTimeoutMs: number;
  stream: boolean;
  json: boolean;
  progress: boolean;
  help: boolean;
  /** With --api-requests: the scheduling-request mode instead of sending notifications. */
  apiRequests?: ApiRequestsSettings;
  /** With --tenants: the tenants mode instead of sending notifications. */
  tenants?: TenantsSettings;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): SimOptions {
  let parsed: ReturnType<typeof parseArgsStrict>;
  try {
    parsed = parseArgsStrict(argv);
    localEndpoints(env); // a bad PORT / DYNAMODB_PORT is a usage error, named
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  const integer = (n: number) => Number.isInteger(n);
  const scenario = (values.scenario ?? 'mixed') as ScenarioName;
  if (!SCENARIOS.includes(scenario))
    throw new UsageError(`--scenario must be one of ${SCENARIOS.join(', ')}, got "${scenario}"`);
  const url = values.url ?? localUrl(env);
  try {
    if (!/^https?:$/.test(new URL(url).protocol)) throw new Error();
  } catch {
    throw new UsageError(`--url must be an http:// or https:// URL, got "${url}"`);
  }
  const secrets = (values.secret ?? [])
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter(Boolean);
  const table = values.table ?? localEndpoints(env).tableName;
  const stream = values.stream ?? false;
  // A named table without an endpoint is an AWS table; otherwise local mode's DynamoDB.
  const dynamodbEndpoint =
    values['dynamodb-endpoint'] ?? (values.table === undefined ? localDynamoDb(env) : undefined);
  if (stream && dynamodbEndpoint === undefined)
    throw new UsageError('--stream reads a local stream: give --dynamodb-endpoint');
  const options: SimOptions = {
    url,
    secrets,
    scenario,
    count: number(
      values.count,
      'count',
      100,
      (n) => integer(n) && n >= 1 && n <= 1_000_000,
      'a whole number from 1 to 1000000',
    ),
    rate: number(values.rate, 'rate', 50, (n) => n >= 0, 'a number ≥ 0'),
    concurrency: number(
      values.concurrency,
      'concurrency',
      8,
      (n) => integer(n) && n >= 1 && n <= 1000,
      'a whole number from 1 to 1000',
    ),
    duplicates: number(values.duplicates, 'duplicates', 0.05, (n) => n >= 0 && n <= 1, 'a ratio from 0 to 1'),
    seed: number(values.seed, 'seed', randomBytes(4).readUInt32BE(0), integer, 'a whole number'),
    timeoutMs: number(
      values.timeout,
      'timeout',
      CRONOFY_TIMEOUT_MS,
      (n) => n > 0,
      'a number of milliseconds > 0',
    ),
    maxFailures: number(
      values['max-failures'],
      'max-failures',
      CRONOFY_MAX_CONSECUTIVE_FAILURES,
      (n) => integer(n) && n >= 1,
      'a whole number ≥ 1',
    ),
    backoffMs: number(
      values.backoff,
      'backoff',
      CRONOFY_BACKOFF.initialMs,
      (n) => n >= 0,
      'a number of milliseconds ≥ 0',
    ),
    backoffMaxMs: number(
      values['backoff-max'],
      'backoff-max',
      CRONOFY_BACKOFF.maxMs,
      (n) => n >= 0,
      'a number of milliseconds ≥ 0',
    ),
    verify: values.verify ?? stream,
    table,
    dynamodbEndpoint,
    region: values.region,
    verifyTimeoutMs: number(
      values['verify-timeout'],
      'verify-timeout',
      60_000,
      (n) => n >= 0,
      'a number of milliseconds ≥ 0',
    ),
    stream,
    json: values.json ?? false,
    progress: !(values['no-progress'] ?? false),
    help: values.help ?? false,
  };
  return withTenants(withApiRequests(options, values), values);
}

/** `--tenants N [--per-tenant M]`: the tenants mode, with the run's concurrency and output. */
function withTenants(options: SimOptions, values: ReturnType<typeof parseArgsStrict>['values']): SimOptions {
  if (values.tenants === undefined) {
    if (values['per-tenant'] !== undefined) throw new UsageError('--per-tenant goes with --tenants');
    return options;
  }
  if (options.apiRequests) throw new UsageError('--tenants and --api-requests are two runs: give one');
  const other = NOT_WITH_API_REQUESTS.find((name) => values[name] !== undefined);
  if (other) throw new UsageError(`--${other} does not apply to --tenants (it runs against local mode)`);
  const whole = (min: number, max: number) => (n: number) => Number.isInteger(n) && n >= min && n <= max;
  const { concurrency, verifyTimeoutMs, json, progress } = options;
  return {
    ...options,
    tenants: {
      tenants: number(values.tenants, 'tenants', 0, whole(2, 50), 'a whole number from 2 to 50'),
      perTenant: number(values['per-tenant'], 'per-tenant', 6, whole(1, 100), 'a whole number from 1 to 100'),
      concurrency,
      verifyTimeoutMs,
      json,
      progress,
    },
  };
}

/** `--api-requests N [--silent-share R]`: the scheduling-request mode, with the run's seed, concurrency and output. */
function withApiRequests(
  options: SimOptions,
  values: ReturnType<typeof parseArgsStrict>['values'],
): SimOptions {
  if (values['api-requests'] === undefined) {
    if (values['silent-share'] !== undefined) throw new UsageError('--silent-share goes with --api-requests');
    return options;
  }
  const other = NOT_WITH_API_REQUESTS.find((name) => values[name] !== undefined);
  if (other) throw new UsageError(`--${other} does not apply to --api-requests (it runs against local mode)`);
  const { seed, concurrency, verifyTimeoutMs, json, progress } = options;
  const count = number(
    values['api-requests'],
    'api-requests',
    0,
    (n) => Number.isInteger(n) && n >= 1 && n <= 1000,
    'a whole number from 1 to 1000',
  );
  const silentShare = number(
    values['silent-share'],
    'silent-share',
    0.3,
    (n) => n >= 0 && n <= 1,
    'a ratio from 0 to 1',
  );
  return {
    ...options,
    apiRequests: { count, silentShare, seed, concurrency, verifyTimeoutMs, json, progress },
  };
}

function parseArgsStrict(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: 'string' },
      secret: { type: 'string', multiple: true },
      scenario: { type: 'string' },
      count: { type: 'string' },
      rate: { type: 'string' },
      concurrency: { type: 'string' },
      duplicates: { type: 'string' },
      seed: { type: 'string' },
      timeout: { type: 'string' },
      'max-failures': { type: 'string' },
      backoff: { type: 'string' },
      'backoff-max': { type: 'string' },
      verify: { type: 'boolean' },
      table: { type: 'string' },
      'dynamodb-endpoint': { type: 'string' },
      region: { type: 'string' },
      'verify-timeout': { type: 'string' },
      stream: { type: 'boolean' },
      json: { type: 'boolean' },
      'no-progress': { type: 'boolean' },
      'api-requests': { type: 'string' },
      'silent-share': { type: 'string' },
      tenants: { type: 'string' },
      'per-tenant': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

export interface SimReport {
  scenario: ScenarioName;
  url: string;
  seed: number;
  secrets: number;
  delivery: DeliverySummary;
  verify?: VerifyReport & { table: string; endpoint: string };
  stream?: StreamReport;
  /** Local mode: the downstream events `GET /_local/events` served, against the stream. */
  events?: EventsReport;
  /** Why the run stopped before delivering everything, when it did. */
  stopped?: string;
  ok: boolean;
}

function formatText(report: SimReport): string {
  const d = report.delivery;
  const answers = Object.entries(d.byStatus)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${status}×${n}`)
    .join('  ');
  const lines = [
    ...(report.stopped ? [`Stopped early: ${report.stopped}`] : []),
    `  sent       ${d.notifications} notifications, ${d.requests} requests (${d.duplicatesSent} duplicate${d.duplicatesSent === 1 ? '' : 's'}, ${d.retried} retr${d.retried === 1 ? 'y' : 'ies'} on ${d.notificationsRetried} notification${d.notificationsRetried === 1 ? '' : 's'})`,
    `  accepted   ${d.accepted}    given up ${d.gaveUp}${d.aborted ? `    aborted ${d.aborted}` : ''}`,
    `  answers    ${answers || 'none'}`,
    `  latency    p50 ${d.latencyMs.p50} ms   p99 ${d.latencyMs.p99} ms   max ${d.latencyMs.max} ms`,
    `  elapsed    ${(d.elapsedMs / 1000).toFixed(1)} s (${d.requestsPerSecond} requests/s)`,
  ];
  const v = report.verify;
  if (v) {
    lines.push(
      `Verify ${v.table} @ ${v.endpoint} (waited ${(v.waitedMs / 1000).toFixed(1)} s)`,
      `  checked    ${v.checked}: applied once ${v.applied}, stale (newer state kept) ${v.stale}, kept unapplied ${v.keptOnly}`,
      `  lost ${v.lost}   double-applied ${v.doubleApplied}   regressed ${v.regressed}   wrong ${v.wrong}${v.givenUpButRecorded ? `   given up but recorded ${v.givenUpButRecorded}` : ''}`,
    );
    for (const finding of v.findings) lines.push(`  ! ${finding.label} (${finding.key}): ${finding.problem}`);
  }
  const s = report.stream;
  if (s) {
    lines.push(
      `Stream (${s.records} records)`,
      `  once ${s.once}   stale ${s.stale}   missing ${s.missing}   double-applied ${s.doubleApplied}   regressed ${s.regressed}`,
    );
    for (const finding of s.findings) lines.push(`  ! ${finding.label} (${finding.key}): ${finding.problem}`);
  }
  const e = report.events;
  if (e) {
    lines.push(
      `Events (GET /_local/events): ${e.expected} expected, ${e.served} served`,
      `  missing ${e.missing}   unexpected ${e.unexpected}   duplicates ${e.duplicates}   out of order ${e.outOfOrder}   mapping mismatched ${e.mismatched}`,
    );
    for (const finding of e.findings) lines.push(`  ! ${finding.label} (${finding.key}): ${finding.problem}`);
  }
  lines.push(report.ok ? 'OK' : 'FAILED');
  return lines.join('\n');
}

export interface Io {
  stdout: (text: string) => void;
  stderr: ProgressStream;
  env: NodeJS.ProcessEnv;
}

/** The first line of a run, before anything is sent: where it sends, what and how. */
function header(options: SimOptions, secrets: number): string {
  return [
    `Cronofy simulator → ${options.url}`,
    `  scenario ${options.scenario}, ${options.count} notification${options.count === 1 ? '' : 's'}, seed ${options.seed}, signed with ${secrets} secret${secrets === 1 ? '' : 's'}`,
  ].join('\n');
}

/** Stop a run that cannot succeed: every answer a 401, or nothing listening. */
function earlyStop(url: string, local: boolean) {
  const controller = new AbortController();
  // One listener per lane waiting on a retry backoff: more than Node's default warning threshold of 10.
  setMaxListeners(0, controller.signal);
  let rejected = 0;
  let unreachable = 0;
  let reason: string | undefined;
  const stop = (why: string) => {
    if (reason) return;
    reason = why;
    controller.abort();
  };
  return {
    signal: controller.signal,
    reason: () => reason,
    onAnswer(outcome: string) {
      rejected = outcome === '401' ? rejected + 1 : 0;
      unreachable = outcome === 'error' ? unreachable + 1 : 0;
      if (rejected >= REJECTED_SIGNATURE_LIMIT)
        stop(
          `the receiver rejects our signature (${rejected} answers in a row were 401). Sign with a client secret ` +
            'the receiver has: --secret, or CRONOFY_CLIENT_SECRETS / cronofy.local.clientSecrets for local mode.',
        );
      if (unreachable >= UNREACHABLE_LIMIT)
        stop(
          local
            ? new LocalModeNotRunning('gateway', new URL(url).origin).message
            : `the receiver at ${url} stopped answering (${unreachable} connection errors in a row).`,
        );
    },
  };
}

export async function run(argv: string[], io: Io): Promise<number> {
  let options: SimOptions;
  try {
    options = parseOptions(argv, io.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`${error.message}\n\nRun with --help for the options.\n`);
    return 2;
  }
  if (options.help) {
    io.stdout(usage(io.env));
    return 0;
  }
  if (options.apiRequests) return runApiRequests(options.apiRequests, io);
  if (options.tenants) return runTenants(options.tenants, io);
  const secrets =
    options.secrets.length > 0 ? options.secrets : [...loadLocalConfig(io.env).secrets.clientSecrets];
  const local = !argv.some((arg) => arg === '--url' || arg.startsWith('--url='));

  // Say where we send before anything else, so a run that goes wrong says what it was doing.
  const printHeader = options.json ? (text: string) => io.stderr.write(`${text}\n`) : io.stdout;
  printHeader(header(options, secrets.length));
  if (!(await listening(options.url))) {
    const origin = new URL(options.url).origin;
    io.stderr.write(
      `${local ? new LocalModeNotRunning('gateway', origin).message : `nothing answers at ${origin}; check --url`}\n`,
    );
    return 1;
  }
  if (options.verify && options.dynamodbEndpoint) {
    if (!(await listening(options.dynamodbEndpoint))) {
      io.stderr.write(`${new LocalModeNotRunning('dynamodb', options.dynamodbEndpoint).message}\n`);
      return 1;
    }
    // Before sending: a wrong table name would otherwise fail only the check, as the SDK's unnamed error.
    const client = dynamoClient(options.dynamodbEndpoint);
    const endpoints = {
      ...localEndpoints(io.env),
      dynamodb: options.dynamodbEndpoint,
      tableName: options.table,
    };
    try {
      await requireLocalTables(client, endpoints, ['records']);
    } catch (error) {
      if (!(error instanceof LocalTableNotFound)) throw error;
      io.stderr.write(`${error.message}\n`);
      return 1;
    } finally {
      client.destroy();
    }
  }

  // Local mode serves its downstream events: watch them from before the first notification.
  const events = options.verify && options.dynamodbEndpoint ? await watchLocalEvents(options.url) : undefined;

  const stopper = earlyStop(options.url, local);
  const bar = options.progress ? progressBar(io.stderr) : undefined;
  bar?.start(options.count);
  const { summary, records } = await simulate({
    scenario: options.scenario,
    count: options.count,
    seed: options.seed,
    url: options.url,
    secrets,
    concurrency: options.concurrency,
    rate: options.rate,
    duplicateRatio: options.duplicates,
    timeoutMs: options.timeoutMs,
    maxConsecutiveFailures: options.maxFailures,
    backoff: { initialMs: options.backoffMs, maxMs: options.backoffMaxMs },
    signal: stopper.signal,
    onAnswer: stopper.onAnswer,
    ...(bar ? { onProgress: bar.update } : {}),
  });
  bar?.end();
  const stopped = stopper.reason();

  let verify: SimReport['verify'];
  let stream: SimReport['stream'];
  let eventsReport: SimReport['events'];
  let exactlyOnce = true;
  if (options.verify && !stopped) {
    const endpoint = options.dynamodbEndpoint;
    const client = endpoint
      ? dynamoClient(endpoint)
      : new DynamoDBClient(options.region ? { region: options.region } : {});
    try {
      const check = await verifyRun(records, {
        client,
        tableName: options.table,
        timeoutMs: options.verifyTimeoutMs,
        ...(options.stream && endpoint ? { streamEndpoint: endpoint } : {}),
      });
      verify = {
        ...check.table,
        table: options.table,
        endpoint: endpoint ?? `AWS${options.region ? ` ${options.region}` : ''}`,
      };
      stream = check.stream;
      exactlyOnce = isExactlyOnce(check);
      if (events && endpoint) {
        const streamRecords = await readTableStream(client, options.table, endpoint);
        eventsReport = await checkServedEvents(records, streamRecords, events, options.verifyTimeoutMs);
        exactlyOnce &&= eventsOk(eventsReport);
      }
    } finally {
      client.destroy();
      // Also when the check throws: the open subscription would keep the process from exiting.
      await events?.close();
    }
  }
  await events?.close();
  const report: SimReport = {
    scenario: options.scenario,
    url: options.url,
    seed: options.seed,
    secrets: secrets.length,
    delivery: summary,
    ...(verify ? { verify } : {}),
    ...(stream ? { stream } : {}),
    ...(eventsReport ? { events: eventsReport } : {}),
    ...(stopped ? { stopped } : {}),
    ok: !stopped && summary.gaveUp === 0 && summary.aborted === 0 && exactlyOnce,
  };
  io.stdout(options.json ? JSON.stringify(report, null, 2) : formatText(report));
  return report.ok ? 0 : 1;
}

/** `GET /_local/events` of the gateway at `url`, when it has one (local mode); undefined otherwise. */
async function watchLocalEvents(url: string): Promise<SseSubscription | undefined> {
  try {
    const subscription = await subscribeEvents(new URL('/_local/events', url).toString());
    if (subscription.response.ok) return subscription;
    await subscription.close();
  } catch {
    // Not local mode, or not reachable: the run goes on without the events check.
  }
  return undefined;
}

const invokedDirectly = (() => {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (invokedDirectly) {
  run(process.argv.slice(2), {
    stdout: (text) => console.log(text),
    stderr: process.stderr,
    env: process.env,
  })
    .then((code) => {
      process.exitCode = code;
    })
    .catch((error: unknown) => {
      console.error(explainAwsSetup(error) ?? (error instanceof Error ? error.message : String(error)));
      process.exitCode = 1;
    });
}
