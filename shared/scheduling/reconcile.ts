import { keys, sha256Hex } from '../contract/keys.ts';
import { openIndexChange } from '../contract/open-index.ts';
import {
  type AspectWrite,
  type Item,
  LAST_NOTIFICATION_TYPE,
  type StateWrite,
} from '../contract/ordering.ts';
import { storable } from '../contract/storable.ts';
import { TenantUnavailableError, UnknownTenantError } from '../core/errors.ts';
import type { Clock, Logger, ReconcileStore } from '../core/ports.ts';
import { type CronofyApi, QUERY_BATCH_SIZE, type SchedulingRequest } from '../cronofy/api.ts';
import {
  CredentialRejectedError,
  CronofyApiError,
  CronofyNotFoundError,
  CronofyValidationError,
} from '../cronofy/api-errors.ts';

/**
 * Reconciliation: Cronofy gives up on a notification after 10 failed deliveries and has no redelivery API, so
 * open scheduling requests are re-read with `POST /v1/scheduling_requests/query`
 * (https://docs.cronofy.com/developers/api/scheduling-requests/query/) and what the answer shows is applied
 * through the same ordering model as a notification (shared/contract/ordering.ts), timed at the moment the query
 * was sent: anything Cronofy triggered after that applies over it, anything before it is in the answer.
 *
 * What the answer shows, and so what is applied:
 * - lifecycle aspect: `event.start`, `event.end`, `event.summary`, `event.metadata.scheduler` (as `metadata`
 *   and `correlation_id`); and one status step, to `time_chosen` from a status that means "not booked yet"
 *   (UNBOOKED: `pending`, `more_times_requested`, `no_times_available`), when the answer has
 *   `slot_selection: "complete"`, event times, and no declined attendee. No other status is inferred: the
 *   answer cannot tell `rescheduled` from `time_chosen`, and how Cronofy shows a declined or cancelled
 *   request is not documented;
 * - participants aspect: `event.host`, `event.attendees`.
 * An aspect is written only when the answer differs from the record, so a run over unchanged requests writes
 * nothing at all (`reconciled_at` is set only with a change). Every change is a delivery that was missed.
 */

export type { ReconcileStore } from '../core/ports.ts';

export interface ReconcileDeps {
  api: CronofyApi;
  store: ReconcileStore;
  clock: Clock;
  logger: Logger;
  /** Told about every failed Cronofy call (the handler turns them into metrics). */
  onCronofyError?: (error: CronofyApiError, tenantId?: string) => void;
}

export interface ReconcileOptions {
  /** Specific requests (any status); with neither ids nor allOpen, nothing is read. */
  ids?: readonly string[];
  /** Every open request of the index (what the schedule does). */
  allOpen?: boolean;
  /** Read and compare, write nothing. */
  dryRun?: boolean;
  /** Cronofy calls this run may make at most (each queries up to `batchSize` requests). */
  maxCalls: number;
  batchSize?: number;
}

export interface SkippedTenant {
  tenantId: string;
  reason: 'unknown_tenant' | 'tenant_not_connected' | 'tenant_disconnected';
  requests: number;
}

export interface ReconcileReport {
  dryRun: boolean;
  startedAt: string;
  durationMs: number;
  /** Cronofy calls made. */
  calls: number;
  checked: number;
  /** Requests whose record changed (or, in a dry run, would have): each is a missed delivery. */
  changed: string[];
  unchanged: number;
  /** Changes that lost to a newer notification applied meanwhile. */
  stale: number;
  /** Ids Cronofy did not return. */
  notFound: string[];
  /** Ids not reconciled because of an error (Cronofy unavailable, DynamoDB, a credential it refused). */
  failed: string[];
  /**
   * Ids of tenants that cannot be called for (unknown, not connected, disconnected): not read, not failed. They
   * stay open, and are skipped at no Cronofy call each run, until the tenant connects again, their event ends,
   * or `ops tenant purge` deletes them.
   */
  skipped: string[];
  /** The tenants skipped, why, and how many of their requests. */
  skippedTenants: SkippedTenant[];
  /** Open requests left for the next run (the call cap was reached), or not read because Cronofy failed. */
  remaining: number;
  /** Requests whose event ended, taken out of the index of open requests. */
  closed: string[];
  /** Why the run stopped early, when it did. */
  error?: string;
}

const DECLINED = 'declined';

/**
 * Statuses a booked answer moves to `time_chosen`: the booking's notification was missed (or a late step from
 * before the booking set one of these again after a read; the next run corrects it).
 */
const UNBOOKED: readonly unknown[] = ['pending', 'more_times_requested', 'no_times_available'];

/** JSON with sorted keys: two values the same in meaning compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}
const same = (a: unknown, b: unknown) => canonical(a) === canonical(b);

function defined(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) out[name] = storable(value);
  return out;
}

/** The state write an answer calls for against the record as it is (undefined: nothing to change). */
export function reconcileWrite(
  answer: SchedulingRequest,
  current: Item | undefined,
  at: string,
  now: string,
): StateWrite | undefined {
  const event = answer.event;
  const recordEvent = (current?.event ?? {}) as Record<string, unknown>;
  const aspects: AspectWrite[] = [];

  // Event details count once a time is chosen: before that the answer shows only the template's summary,
  // which no notification carries, and writing it would report every new request as a missed delivery.
  const timed = event?.start !== undefined || event?.end !== undefined;
  const eventFields = timed ? defined({ start: event?.start, end: event?.end, summary: event?.summary }) : {};
  const scheduler = event?.metadata?.scheduler;
  const correlationId = scheduler?.correlation_id;
  const set = defined({
    metadata: scheduler,
    correlation_id: typeof correlationId === 'string' ? correlationId : undefined,
  });
  const attendees = Array.isArray(event?.attendees) ? event.attendees : [];
  if (
    UNBOOKED.includes(current?.status) &&
    answer.slot_selection === 'complete' &&
    event?.start !== undefined &&
    event?.end !== undefined &&
    !attendees.some((attendee) => attendee.status === DECLINED)
  )
    set.status = 'time_chosen';
  // The correlation id is the metadata's: metadata shown without one takes the record's away.
  const uncorrelated =
    scheduler !== undefined && set.correlation_id === undefined && current?.correlation_id !== undefined;
  const lifecycleChanged =
    set.status !== undefined ||
    uncorrelated ||
    Object.entries(eventFields).some(([name, value]) => !same(recordEvent[name], value)) ||
    Object.entries(set).some(([name, value]) => !same(current?.[name], value));
  if (lifecycleChanged) {
    const index = openIndexChange(set.status ?? current?.status, eventFields.end ?? recordEvent.end);
    // A status the read books was shown by no notification: the type of the one before no longer names it.
    const remove = [
      ...(index.remove ?? []),
      ...(set.status === undefined ? [] : [LAST_NOTIFICATION_TYPE]),
      ...(uncorrelated ? ['correlation_id'] : []),
    ];
    aspects.push({
      aspect: 'lifecycle',
      set: { ...set, ...index.set },
      ...(Object.keys(eventFields).length > 0 ? { event: eventFields } : {}),
      ...(remove.length > 0 ? { remove } : {}),
    });
  }

  const participants = defined({ host: event?.host, attendees: event?.attendees });
  if (Object.entries(participants).some(([name, value]) => !same(recordEvent[name], value)))
    aspects.push({ aspect: 'participants', set: {}, event: participants });

  if (aspects.length === 0) return undefined;
  return {
    pk: keys.schedulingRequest(answer.scheduling_request_id),
    key: `reconcile:${at}`,
    at,
    fromRead: true,
    common: {
      entity: 'scheduling_request',
      scheduling_request_id: answer.scheduling_request_id,
      updated_at: now,
      reconciled_at: at,
    },
    aspects,
  };
}

/** The tenant a record was created for (its `tenant_id`); undefined: the deployment's own credential. */
function tenantOf(record: Item | undefined): string | undefined {
  const tenant = record?.tenant_id;
  return typeof tenant === 'string' && tenant !== '' ? tenant : undefined;
}

/**
 * The tenants in an order drawn afresh for each run (a digest of the tenant and the run's start). Each tenant's
 * batches are its own, so with many tenants a run can reach its call cap before every tenant's turn; a fixed
 * order would leave the same tenants behind every run. Nothing is stored for it: `reconciled_at` changes only
 * with a change (a run that finds nothing writes nothing), so it cannot say who waited longest.
 */
function turnOrder(
  groups: ReadonlyMap<string | undefined, string[]>,
  runStart: string,
): [string | undefined, string[]][] {
  const rank = new Map(
    [...groups.keys()].map((tenant) => [tenant, sha256Hex(`${tenant ?? ''}\u0000${runStart}`)]),
  );
  return [...groups].sort(([a], [b]) => {
    const [x, y] = [rank.get(a) ?? '', rank.get(b) ?? ''];
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** Why a tenant cannot be called for, when the credential provider says so. */
function tenantRefusal(error: unknown): SkippedTenant['reason'] | undefined {
  if (error instanceof UnknownTenantError) return 'unknown_tenant';
  if (error instanceof TenantUnavailableError) return error.code;
  return undefined;
}

export async function reconcile(options: ReconcileOptions, deps: ReconcileDeps): Promise<ReconcileReport> {
  const started = deps.clock();
  const startedAt = started.toISOString();
  const batchSize = options.batchSize ?? QUERY_BATCH_SIZE;
  const dryRun = options.dryRun ?? false;
  const report: ReconcileReport = {
    dryRun,
    startedAt,
    durationMs: 0,
    calls: 0,
    checked: 0,
    changed: [],
    unchanged: 0,
    stale: 0,
    notFound: [],
    failed: [],
    skipped: [],
    skippedTenants: [],
    remaining: 0,
    closed: [],
  };

  const capacity = options.maxCalls * batchSize;
  const ids = [...new Set(options.ids ?? [])];
  if (options.allOpen) {
    if (!dryRun) report.closed = await deps.store.closeEnded(startedAt, 1000);
    // One more than fits, to know whether some are left for the next run.
    for (const id of await deps.store.openRequests(startedAt, capacity + 1))
      if (!ids.includes(id)) ids.push(id);
  }
  const work = ids.slice(0, capacity);
  report.remaining = ids.length - work.length;

  // Each request is read with the credential of the tenant it was created for (its record's `tenant_id`), so
  // the records come first, and the requests are queried per tenant.
  const current = new Map<string, Item>();
  const groups = new Map<string | undefined, string[]>();
  for (let i = 0; i < work.length; i += batchSize) {
    const slice = work.slice(i, i + batchSize);
    try {
      for (const [id, item] of await deps.store.records(slice)) current.set(id, item);
    } catch (error) {
      report.failed.push(...slice);
      deps.logger.warn('reconciliation batch failed', { error: (error as Error).name });
      continue;
    }
    for (const id of slice) {
      const tenant = tenantOf(current.get(id));
      const group = groups.get(tenant);
      if (group) group.push(id);
      else groups.set(tenant, [id]);
    }
  }

  let stopped = false;
  for (const [tenant, groupIds] of turnOrder(groups, startedAt)) {
    for (let i = 0; i < groupIds.length; i += batchSize) {
      if (stopped || report.calls >= options.maxCalls) {
        // Per-tenant batches are not always full: the cap can be reached before every request was read.
        report.remaining += groupIds.length - i;
        break;
      }
      const batch = groupIds.slice(i, i + batchSize);
      let answers: SchedulingRequest[];
      const at = deps.clock().toISOString();
      try {
        report.calls++;
        answers = await deps.api.querySchedulingRequests(batch, tenant === undefined ? {} : { tenant });
      } catch (error) {
        const reason = tenant === undefined ? undefined : tenantRefusal(error);
        if (tenant !== undefined && reason !== undefined) {
          // No call reached Cronofy. Skipped, not failed: nothing to retry until the tenant connects again, and
          // no alarm for what its offboarding or a pending Organization Connect explains.
          report.calls--;
          const rest = groupIds.slice(i);
          report.skipped.push(...rest);
          report.skippedTenants.push({ tenantId: tenant, reason, requests: rest.length });
          deps.logger.warn('reconciliation skipped a tenant', {
            tenantId: tenant,
            reason,
            requests: rest.length,
          });
          break;
        }
        report.failed.push(...batch);
        if (error instanceof CronofyApiError) deps.onCronofyError?.(error, tenant);
        if (error instanceof CredentialRejectedError) {
          // This credential (a tenant's, after a refresh, or the deployment's own) is refused: its other requests
          // would be too, another tenant's credential need not be.
          report.remaining += groupIds.length - i - batch.length;
          deps.logger.warn('reconciliation of a credential stopped: Cronofy refused it', {
            ...(tenant !== undefined ? { tenantId: tenant } : {}),
            status: error.status,
          });
          break;
        }
        if (
          error instanceof CronofyApiError &&
          !(error instanceof CronofyValidationError || error instanceof CronofyNotFoundError)
        ) {
          // Cronofy is unavailable or rate limited, for every credential: the rest would fail too. Nothing was
          // written.
          report.remaining += groupIds.length - i - batch.length;
          report.error = `${error.name}: ${error.message}`;
          deps.logger.warn('reconciliation stopped: Cronofy call failed', {
            error: error.name,
            status: error.status,
          });
          stopped = true;
          break;
        }
        deps.logger.warn('reconciliation batch failed', { error: (error as Error).name });
        continue;
      }
      await applyAnswers(batch, answers, current, at, report, deps);
    }
  }
  report.durationMs = deps.clock().getTime() - started.getTime();
  deps.logger.info('reconciliation finished', {
    dryRun,
    calls: report.calls,
    checked: report.checked,
    changed: report.changed.length,
    failed: report.failed.length,
    skipped: report.skipped.length,
    skippedTenants: report.skippedTenants.map((skipped) => skipped.tenantId),
    remaining: report.remaining,
    closed: report.closed.length,
    changedIds: report.changed.slice(0, 100),
  });
  return report;
}

/** What one query answered, applied to the records of its batch (or, in a dry run, compared with them). */
async function applyAnswers(
  batch: readonly string[],
  answers: readonly SchedulingRequest[],
  current: ReadonlyMap<string, Item>,
  at: string,
  report: ReconcileReport,
  deps: ReconcileDeps,
): Promise<void> {
  const byId = new Map(answers.map((answer) => [answer.scheduling_request_id, answer]));
  await Promise.all(
    batch.map(async (id) => {
      const answer = byId.get(id);
      if (!answer) {
        report.notFound.push(id);
        return;
      }
      report.checked++;
      const build = (record: Item | undefined) =>
        reconcileWrite(answer, record, at, deps.clock().toISOString());
      if (report.dryRun) {
        if (build(current.get(id))) report.changed.push(id);
        else report.unchanged++;
        return;
      }
      try {
        const outcome = await deps.store.reconcile(id, current.get(id), build, at);
        if (outcome === 'applied') report.changed.push(id);
        else if (outcome === 'stale') report.stale++;
        else report.unchanged++;
      } catch (error) {
        report.failed.push(id);
        deps.logger.warn('reconciliation of a request failed', {
          schedulingRequestId: id,
          error: (error as Error).name,
        });
      }
    }),
  );
}
