import { randomBytes } from 'node:crypto';
import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { keys } from '#shared/contract/keys.ts';
import type { ReconcileReport } from '#shared/scheduling/reconcile.ts';
import { DEFAULT_API_TOKEN } from '../../infra/local/gateway.ts';
import { dynamoClient } from '../../infra/local/services.ts';
import {
  LocalModeNotRunning,
  LocalTableNotFound,
  listening,
  localCronofyApiUrl,
  localEndpoints,
  requireLocalTables,
} from '../../infra/local-mode.ts';
import { reconcileLocal } from '../../infra/ops/reconcile.ts';
import type { ProgressStream } from './progress.ts';
import { type Random, seededRandom } from './random.ts';

/**
 * `npm run sim -- --api-requests N`: scheduling requests the way an integrator and a candidate make them, against
 * a running local mode. Creates N requests through `POST /scheduling-requests` (the local credential, an
 * Idempotency-Key, metadata), opens each link, then plays the candidate in local mode's Cronofy fake: books,
 * sometimes reschedules, sometimes declines (`POST /_fake/scheduling_requests/{id}/{step}`). A share of the
 * steps is taken with `notify: false`: Cronofy's state changes and no notification comes, as when Cronofy gave up
 * delivering one. The run waits until the records show every notified step (signed notifications through the
 * real route, queue and worker), reconciles the run's requests with the module `npm run ops -- reconcile` uses,
 * and checks that every record ends in the state the fake holds: status, event start and end, correlation id.
 *
 * Declines are always notified: Cronofy's query answer cannot show a decline, so reconciliation never infers one
 * (shared/scheduling/reconcile.ts); a silent decline would be a mismatch by design. A request's steps are at
 * least a second apart, as a candidate's are: Cronofy's `triggered_at` has one-second resolution.
 */

/** The `npm run sim -- --help` section of this mode. */
export const API_REQUESTS_HELP = `Scheduling requests through the API (local mode only)
  --api-requests N       instead of sending notifications: create N scheduling requests (1–1000) through
                         POST /scheduling-requests (the credential of LOCAL_API_TOKEN, an Idempotency-Key,
                         metadata); as the candidate, in the Cronofy fake (CRONOFY_API_PORT, 3100), book each,
                         reschedule some, decline some; wait for the notifications; reconcile the run's requests
                         (as npm run ops -- reconcile <id…>); check that every record shows what the fake holds
                         (status, event start and end, correlation_id). Uses --seed, --concurrency,
                         --verify-timeout, --json and --no-progress.
  --silent-share RATIO   share of bookings and reschedules made without a notification (notify: false), left
                         to reconciliation, 0–1 (default 0.3). Declines are always notified: a query cannot
                         show a decline, so reconciliation never infers one.`;

/** Options of the notification run that mean nothing to this mode. */
export const NOT_WITH_API_REQUESTS = [
  'url',
  'secret',
  'scenario',
  'count',
  'rate',
  'duplicates',
  'timeout',
  'max-failures',
  'backoff',
  'backoff-max',
  'verify',
  'table',
  'dynamodb-endpoint',
  'region',
  'stream',
] as const;

export type Step = 'time_chosen' | 'rescheduled' | 'declined';

export interface PlannedStep {
  step: Step;
  notify: boolean;
  start?: string;
  end?: string;
}

/** What the run compares on a record: the lifecycle as Cronofy shows it. */
export interface Lifecycle {
  status: string;
  start?: string;
  end?: string;
  correlationId?: string;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const DURATION_MINUTES = 30;
/** Between two rounds of steps: a request's steps get distinct `triggered_at` seconds. */
const ROUND_GAP_MS = 1100;
/** Answers to retry a create on (same Idempotency-Key), honouring Retry-After, and how often. */
const RETRYABLE = new Set([409, 429, 503]);
const CREATE_ATTEMPTS = 8;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A candidate's steps on one request: most book, some then reschedule once or twice, some decline (before or
 * after booking). A booking or reschedule is silent with probability `silentShare`; a decline never is.
 */
export function planSteps(random: Random, silentShare: number, now: number): PlannedStep[] {
  const notify = () => !random.chance(silentShare);
  if (random.chance(0.1)) return [{ step: 'declined', notify: true }];
  let start = Math.ceil((now + DAY) / HOUR) * HOUR + random.int(0, 13) * DAY + random.int(0, 8) * HOUR;
  const at = (step: Step): PlannedStep => ({
    step,
    notify: notify(),
    start: iso(start),
    end: iso(start + DURATION_MINUTES * MINUTE),
  });
  const steps = [at('time_chosen')];
  const reschedules = random.chance(0.4) ? random.int(1, 2) : 0;
  for (let i = 0; i < reschedules; i++) {
    start += random.int(1, 3) * DAY;
    steps.push(at('rescheduled'));
  }
  if (random.chance(0.2)) steps.push({ step: 'declined', notify: true });
  return steps;
}

export type Json = Record<string, unknown>;
export const object = (value: unknown): Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};

/** An event time (`{time, tzid}` or a bare string) as UTC ISO 8601 with milliseconds, for comparison. */
function timeOf(value: unknown): string | undefined {
  const text = typeof value === 'string' ? value : object(value).time;
  if (typeof text !== 'string') return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? text : iso(ms);
}

/** The lifecycle a scheduling_request record shows. */
export function recordLifecycle(record: Json | undefined): Lifecycle | undefined {
  if (!record) return undefined;
  const event = object(record.event);
  return {
    status: String(record.status),
    start: timeOf(event.start),
    end: timeOf(event.end),
    correlationId: typeof record.correlation_id === 'string' ? record.correlation_id : undefined,
  };
}

/**
 * The lifecycle a record should show for a request in the fake (its `/_fake/…` answer: the object the query
 * returns and the fake's own state). Cronofy shows booked, not how the request got there: a booked request is
 * `rescheduled` when the last step notified to the receiver was a reschedule, else `time_chosen` (the
 * notification's status, or the one reconciliation infers).
 */
export function expectedLifecycle(
  fake: Json,
  lastNotified: Step | undefined,
  correlationId: string,
): Lifecycle {
  const event = object(object(fake.scheduling_request).event);
  const state = String(fake.state);
  const status =
    state === 'booked' ? (lastNotified === 'rescheduled' ? 'rescheduled' : 'time_chosen') : state;
  return { status, start: timeOf(event.start), end: timeOf(event.end), correlationId };
}

/** How a record differs from what it should show, one phrase per field; empty when it matches. */
export function differences(actual: Lifecycle | undefined, expected: Lifecycle): string[] {
  if (!actual) return ['no record'];
  const fields: [keyof Lifecycle, string][] = [
    ['status', 'status'],
    ['start', 'event start'],
    ['end', 'event end'],
    ['correlationId', 'correlation_id'],
  ];
  return fields
    .filter(([field]) => actual[field] !== expected[field])
    .map(([field, label]) => `${label} ${actual[field] ?? 'none'}, Cronofy ${expected[field] ?? 'none'}`);
}

export interface ApiRequestsSettings {
  count: number;
  silentShare: number;
  seed: number;
  concurrency: number;
  /** How long to wait for the notified steps to show on the records. */
  verifyTimeoutMs: number;
  json: boolean;
  progress: boolean;
}

export interface ApiRequestsIo {
  stdout: (text: string) => void;
  stderr: ProgressStream;
  env: NodeJS.ProcessEnv;
}

export interface ApiRequestsReport {
  gateway: string;
  cronofyApi: string;
  seed: number;
  runId: string;
  /** Requests created through the route. */
  created: number;
  /** Steps taken in the fake: notified (the notification was delivered), silent, and notified but undelivered. */
  steps: number;
  /** Steps taken, by kind. */
  byStep: Record<Step, number>;
  notified: number;
  silent: number;
  undelivered: number;
  /** Records that did not show their last notified step within the timeout. */
  unapplied: number;
  /** Records behind Cronofy once the notifications were applied: each needs reconciliation. */
  behind: number;
  convergedAfterReconcile: number;
  mismatched: number;
  reconcile: Pick<ReconcileReport, 'calls' | 'checked' | 'unchanged' | 'stale'> & {
    changed: number;
    notFound: string[];
    failed: string[];
    error?: string;
  };
  /** What went wrong, one line each (ids and field values only). */
  findings: string[];
  ok: boolean;
}

interface Tracked {
  id: string;
  correlationId: string;
  plan: PlannedStep[];
  lastNotified?: Step;
  /** What the record should show from the delivered notifications alone. */
  notifiedState: Lifecycle;
}

/** Run `work` over `items`, at most `limit` at a time. */
export async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class RunStopped extends Error {
  override readonly name = 'RunStopped';
}

export async function readRecord(ddb: DynamoDBClient, tableName: string, id: string) {
  const result = await ddb.send(
    new GetItemCommand({
      TableName: tableName,
      Key: { pk: { S: keys.schedulingRequest(id) } },
      ConsistentRead: true,
    }),
  );
  return result.Item ? (unmarshall(result.Item) as Json) : undefined;
}

/** What of local mode (gateway, DynamoDB, the Cronofy fake) is not running, said for people; undefined when all is. */
export async function localModeMissing(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const endpoints = localEndpoints(env);
  for (const service of ['gateway', 'dynamodb'] as const) {
    if (!(await listening(endpoints[service])))
      return new LocalModeNotRunning(service, endpoints[service]).message;
  }
  const fakeUrl = localCronofyApiUrl(env);
  if (!(await listening(fakeUrl)))
    return `the Cronofy fake is not running at ${fakeUrl}; npm start runs it (give this command the same CRONOFY_API_PORT)`;
  // Checked before anything is created: a forgotten TABLE_NAME would otherwise surface only at the end, as the
  // SDK's "Cannot do operations on a non-existent table".
  const ddb = dynamoClient(endpoints.dynamodb);
  try {
    await requireLocalTables(ddb, endpoints, ['records']);
  } catch (error) {
    if (error instanceof LocalTableNotFound) return error.message;
    throw error;
  } finally {
    ddb.destroy();
  }
  return undefined;
}

export async function runApiRequests(settings: ApiRequestsSettings, io: ApiRequestsIo): Promise<number> {
  const endpoints = localEndpoints(io.env);
  const fakeUrl = localCronofyApiUrl(io.env);
  const token = io.env.LOCAL_API_TOKEN || DEFAULT_API_TOKEN;
  const random = seededRandom(settings.seed);
  const runId = randomBytes(4).toString('hex');
  const say = (text: string) => (settings.json ? io.stderr.write(`${text}\n`) : io.stdout(text));
  const phase = (text: string) => settings.progress && io.stderr.write(`${text}\n`);

  say(
    [
      `Cronofy simulator → ${endpoints.gateway}/scheduling-requests, candidate steps in the Cronofy fake at ${fakeUrl}`,
      `  ${settings.count} scheduling request${settings.count === 1 ? '' : 's'}, silent share ${settings.silentShare}, seed ${settings.seed}`,
    ].join('\n'),
  );
  const missing = await localModeMissing(io.env);
  if (missing) {
    io.stderr.write(`${missing}\n`);
    return 1;
  }

  const findings: string[] = [];
  const tracked: Tracked[] = [];
  const fakeRequest = async (id: string, step?: Step, body?: Json) => {
    const response = await fetch(
      `${fakeUrl}/_fake/scheduling_requests/${encodeURIComponent(id)}${step ? `/${step}` : ''}`,
      step
        ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
        : {},
    );
    const answer = object(await response.json().catch(() => ({})));
    if (response.status !== 200)
      throw new Error(`the fake answered ${response.status} to ${step ?? 'GET'} on ${id}`);
    return answer;
  };

  // 1. The integrator's backend creates the requests; the candidate opens each link.
  phase(`creating ${settings.count} scheduling requests through the API…`);
  const now = Date.now();
  const indexes = Array.from({ length: settings.count }, (_, i) => i);
  const plans = indexes.map(() => planSteps(random, settings.silentShare, now));
  const bodies = indexes.map((i) => ({
    recipient: { email: `sim-${runId}-${i}@example.com`, display_name: `Sim Candidate ${i}` },
    ...(random.chance(0.5)
      ? { template_sub: 'sgr_sim_template' }
      : { host_sub: 'acc_sim_host', summary: 'Phone screen', duration_minutes: DURATION_MINUTES }),
    correlation_id: `SIM-${runId}-${i}`,
    utm_source: 'sim',
    utm_campaign: runId,
  }));
  const create = async (i: number) => {
    for (let attempt = 1; ; attempt++) {
      const response = await fetch(`${endpoints.gateway}/scheduling-requests`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'idempotency-key': `sim-${runId}-${i}`,
        },
        body: JSON.stringify(bodies[i]),
      });
      const answer = object(await response.json().catch(() => ({})));
      if (response.status === 201) return answer;
      if (response.status === 401 || response.status === 403)
        throw new RunStopped(
          `the gateway refuses the local credential (${response.status}): give this command the same LOCAL_API_TOKEN as npm start`,
        );
      if (!RETRYABLE.has(response.status) || attempt === CREATE_ATTEMPTS)
        throw new Error(
          `POST /scheduling-requests answered ${response.status}${answer.message ? `: ${answer.message}` : ''}`,
        );
      await sleep(Math.min(Number(response.headers.get('retry-after') ?? 1), 30) * 1000);
    }
  };
  try {
    await inParallel(indexes, settings.concurrency, async (i) => {
      try {
        const answer = await create(i);
        const id = String(answer.scheduling_request_id);
        await (await fetch(String(answer.url))).arrayBuffer();
        const correlationId = bodies[i]?.correlation_id ?? '';
        tracked.push({
          id,
          correlationId,
          plan: plans[i] ?? [],
          notifiedState: expectedLifecycle(await fakeRequest(id), undefined, correlationId),
        });
      } catch (error) {
        if (error instanceof RunStopped) throw error;
        findings.push(`request ${i}: ${(error as Error).message}`);
      }
    });
  } catch (error) {
    if (!(error instanceof RunStopped)) throw error;
    io.stderr.write(`Stopped early: ${error.message}\n`);
    return 1;
  }

  // 2. The candidate's steps, in rounds at least a second apart.
  let notified = 0;
  let silent = 0;
  let undelivered = 0;
  const byStep: Record<Step, number> = { time_chosen: 0, rescheduled: 0, declined: 0 };
  const rounds = Math.max(0, ...tracked.map((request) => request.plan.length));
  phase(`taking ${tracked.reduce((sum, r) => sum + r.plan.length, 0)} candidate steps in ${rounds} rounds…`);
  for (let round = 0; round < rounds; round++) {
    const started = Date.now();
    await inParallel(
      tracked.filter((request) => request.plan[round]),
      settings.concurrency,
      async (request) => {
        const { step, notify, start, end } = request.plan[round] as PlannedStep;
        try {
          const answer = await fakeRequest(request.id, step, { notify, ...(start ? { start, end } : {}) });
          const notification = object(answer.notification);
          byStep[step]++;
          if (!notify) silent++;
          else if (notification.sent !== true) {
            undelivered++;
            findings.push(
              `${request.id}: the ${step} notification was not delivered (${JSON.stringify(notification)})`,
            );
          } else {
            notified++;
            request.lastNotified = step;
            request.notifiedState = expectedLifecycle(answer, step, request.correlationId);
          }
        } catch (error) {
          findings.push(`${request.id}: ${(error as Error).message}`);
        }
      },
    );
    if (round < rounds - 1) await sleep(Math.max(0, ROUND_GAP_MS - (Date.now() - started)));
  }

  const ddb = dynamoClient(endpoints.dynamodb);
  try {
    const read = async () => {
      const states = new Map<string, Lifecycle | undefined>();
      await inParallel(tracked, settings.concurrency, async (request) => {
        states.set(request.id, recordLifecycle(await readRecord(ddb, endpoints.tableName, request.id)));
      });
      return states;
    };

    // 3. The notified steps reach the records through the real route, queue and worker.
    phase('waiting for the notifications to be applied…');
    const deadline = Date.now() + settings.verifyTimeoutMs;
    let states = await read();
    const waiting = () =>
      tracked.filter((request) => differences(states.get(request.id), request.notifiedState).length > 0);
    while (waiting().length > 0 && Date.now() < deadline) {
      await sleep(250);
      states = await read();
    }
    const unapplied = waiting();
    for (const request of unapplied)
      findings.push(
        `${request.id}: notified steps not applied within ${settings.verifyTimeoutMs} ms: ${differences(states.get(request.id), request.notifiedState).join('; ')}`,
      );

    // What Cronofy (the fake) holds now, and which records are behind it: the silent steps.
    const expected = new Map<string, Lifecycle>();
    await inParallel(tracked, settings.concurrency, async (request) => {
      const fake = await fakeRequest(request.id);
      expected.set(request.id, expectedLifecycle(fake, request.lastNotified, request.correlationId));
    });
    const target = (request: Tracked) => expected.get(request.id) as Lifecycle;
    const behind = new Set(
      tracked
        .filter((request) => differences(request.notifiedState, target(request)).length > 0)
        .map((request) => request.id),
    );

    // 4. Reconciliation, as `npm run ops -- reconcile <id…>` runs it in local mode.
    phase(`reconciling ${tracked.length} scheduling requests…`);
    const reconciled: ApiRequestsReport['reconcile'] = {
      calls: 0,
      checked: 0,
      changed: 0,
      unchanged: 0,
      stale: 0,
      notFound: [],
      failed: [],
    };
    let ids = tracked.map((request) => request.id);
    while (ids.length > 0) {
      const report = await reconcileLocal({ ids, allOpen: false, dryRun: false }, io.env);
      reconciled.calls += report.calls;
      reconciled.checked += report.checked;
      reconciled.changed += report.changed.length;
      reconciled.unchanged += report.unchanged;
      reconciled.stale += report.stale;
      reconciled.notFound.push(...report.notFound);
      reconciled.failed.push(...report.failed);
      if (report.error) {
        reconciled.error = report.error;
        break;
      }
      ids = ids.slice(ids.length - report.remaining);
    }
    if (reconciled.error) findings.push(`reconciliation stopped: ${reconciled.error}`);
    for (const id of [...reconciled.notFound, ...reconciled.failed])
      findings.push(
        `${id}: reconciliation ${reconciled.notFound.includes(id) ? 'found no such request' : 'failed'}`,
      );

    // 5. Every record shows what Cronofy holds.
    states = await read();
    let mismatched = 0;
    let convergedAfterReconcile = 0;
    for (const request of tracked) {
      const problems = differences(states.get(request.id), target(request));
      if (problems.length > 0) {
        mismatched++;
        findings.push(`${request.id}: after reconciliation ${problems.join('; ')}`);
      } else if (behind.has(request.id)) convergedAfterReconcile++;
    }

    const report: ApiRequestsReport = {
      gateway: endpoints.gateway,
      cronofyApi: fakeUrl,
      seed: settings.seed,
      runId,
      created: tracked.length,
      steps: notified + silent + undelivered,
      byStep,
      notified,
      silent,
      undelivered,
      unapplied: unapplied.length,
      behind: behind.size,
      convergedAfterReconcile,
      mismatched,
      reconcile: reconciled,
      findings,
      // Every failure (a create, a step, a notification, reconciliation, a mismatch) is a finding.
      ok: findings.length === 0,
    };
    io.stdout(settings.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.ok ? 0 : 1;
  } finally {
    ddb.destroy();
  }
}

/**
 * The summary for people. Silent steps are counted per step and reconcile's changes per request: several
 * silent steps of one request are one change, and a silent step that a later notified step overtook is
 * none, so the two numbers differ by design; the lines say so.
 */
export function formatReport(report: ApiRequestsReport): string {
  const r = report.reconcile;
  return [
    `  steps      ${report.steps} (booked ${report.byStep.time_chosen}, rescheduled ${report.byStep.rescheduled}, declined ${report.byStep.declined}): notified ${report.notified}, silent ${report.silent} (made in the fake without a notification: a missed delivery)${report.undelivered ? `, notified but undelivered ${report.undelivered}` : ''}; notified steps not applied ${report.unapplied}`,
    `  behind     ${report.behind} request(s) whose record missed the fake's last step (silent counts steps, behind counts requests: several silent steps of one request are one, and a silent step a later notified step overtook is none)`,
    `  reconcile  ${r.checked} checked with ${r.calls} Cronofy call(s): ${r.changed} changed (a record caught up with the fake), ${r.unchanged} unchanged${r.stale ? `, ${r.stale} already newer` : ''}`,
    ...report.findings.map((finding) => `  ! ${finding}`),
    `created ${report.created}  notified ${report.notified}  silent ${report.silent}  converged-after-reconcile ${report.convergedAfterReconcile}/${report.behind}  mismatched ${report.mismatched}`,
    report.ok ? 'OK' : 'FAILED',
  ].join('\n');
}
