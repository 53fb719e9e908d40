import { notificationKey } from '../contract/keys.ts';
import type { NotificationRecord, NotificationStatus } from '../contract/records.ts';
import { LOG_EVENTS } from '../core/log-events.ts';
import type { Outcome } from '../core/metrics.ts';
import { type Clock, type Logger, type RecordStore, StorageRejectedError } from '../core/ports.ts';
import { type Plan, planNotification } from './plan.ts';
import { decodeEnvelope } from './queue-message.ts';

/**
 * Executes plans with an exactly-once effect and no transaction:
 *
 * 1. Each state write is one conditional write on the record itself that sets the new state together with
 *    the ordering bookkeeping of each aspect it changes (its time, and the keys applied at that time). A
 *    retry or a concurrent duplicate finds its key there (or a newer time) and changes nothing. Event
 *    Trigger records are keyed by what they mean (event, transition, target time) and only ever created.
 * 2. Only then are the batch's notification records created, all in one round trip, each only if absent.
 *    A crash between 1 and 2 is repaired by redelivery: step 1 changes nothing, and step 2 runs.
 *
 * A write DynamoDB refuses for its values (StorageRejectedError) is not retried: the notification is kept
 * as `unparseable` with the reason, so no content can send a message to the dead-letter queue. Any other
 * failure (DynamoDB unreachable, throttled) leaves the message to be reported as a batch item failure, and
 * SQS delivers it again. Logs carry identifiers and error names only, never values from a body.
 */

export interface WorkerDeps {
  store: RecordStore;
  clock: Clock;
  logger: Logger;
  /** Days a notification record is kept before DynamoDB's TTL removes it; 0 keeps it forever. */
  retentionDays: number;
  /** Told the outcome of every notification processed (the worker handler turns these into metrics). */
  onOutcome?: (outcome: Outcome) => void;
}

export interface QueueMessage {
  messageId: string;
  body: string;
}

interface Applied {
  messageId: string;
  plan: Plan;
  status: NotificationStatus;
  /** Every state write reported `already_applied`: this delivery changed nothing. */
  duplicate: boolean;
}

/**
 * Step 1: the plan's state and trigger writes, in order. A state write refused for its tenant (`tenant_mismatch`)
 * ends the plan there: it is the first write of any plan that can be refused (a scheduling request's only one;
 * an event's records are keyed by the tenant itself), so nothing of the notification applies.
 */
async function applyPlan(messageId: string, plan: Plan, store: RecordStore): Promise<Applied> {
  if (plan.status !== undefined) return { messageId, plan, status: plan.status, duplicate: false };
  const results: string[] = [];
  // At the shared URL the notification belongs to the tenant of the record it updates, if any.
  let recordTenant: string | undefined;
  const inherit = (tenantId: string) => {
    recordTenant = tenantId;
  };
  const withTenant = (): Plan =>
    recordTenant === undefined || plan.notification.tenant_id !== undefined
      ? plan
      : { ...plan, notification: { ...plan.notification, tenant_id: recordTenant } };
  try {
    for (const planned of plan.stateWrites) {
      const write = planned.tenantId === undefined ? { ...planned, onRecordTenant: inherit } : planned;
      let result = await store.applyState(write);
      if (result === 'uncertain') {
        // A tie past what the record remembers: the notification record says whether this body was applied.
        const key = notificationKey(plan.notification);
        const status = (await store.notificationStatuses([key])).get(key);
        result =
          status === 'applied' || status === 'stale'
            ? 'already_applied'
            : await store.applyState({ ...write, tieResolved: true });
      }
      if (result === 'tenant_mismatch') {
        const rejected: Plan = { ...plan, notification: { ...plan.notification, reason: 'tenant_mismatch' } };
        return { messageId, plan: rejected, status: 'rejected', duplicate: false };
      }
      results.push(result);
    }
    await putTriggers(plan, store, results);
  } catch (error) {
    if (!(error instanceof StorageRejectedError)) throw error;
    const done = results.length > 0 ? `; ${results.length} earlier write(s) of it applied` : '';
    const known = withTenant();
    // Kept without expiry: the record may take these values one day, and only this record tells a replay of
    // the body (which must have no effect) from `npm run ops -- replay`.
    const { expires_at: _expires, ...notification } = known.notification;
    const kept: Plan = { ...known, notification: { ...notification, reason: `${error.message}${done}` } };
    return { messageId, plan: kept, status: 'unparseable', duplicate: false };
  }
  return {
    messageId,
    plan: withTenant(),
    // Stale only when nothing at all could be applied: the newer state already there wins.
    status: results.every((result) => result === 'stale') ? 'stale' : 'applied',
    duplicate: results.every((result) => result === 'already_applied'),
  };
}

/**
 * Event Trigger writes of one body in flight at once. Each is an independent create-if-absent, so their order does
 * not matter; one after another, the ~4,000 transitions a 190 KiB body can hold would outlast the worker's timeout
 * on every delivery, and the message (with its whole batch) would end in the dead-letter queue for its content.
 */
export const TRIGGER_WRITES_IN_FLIGHT = 16;

/**
 * The plan's trigger writes, TRIGGER_WRITES_IN_FLIGHT at a time, each result pushed to `results`. Every write of a
 * chunk is settled before an error is thrown: a fault (retried through SQS) before a refusal of the values (kept
 * `unparseable`), so a refusal's reason counts every write that applied.
 */
async function putTriggers(plan: Plan, store: RecordStore, results: string[]): Promise<void> {
  for (let start = 0; start < plan.triggerWrites.length; start += TRIGGER_WRITES_IN_FLIGHT) {
    const chunk = plan.triggerWrites.slice(start, start + TRIGGER_WRITES_IN_FLIGHT);
    const settled = await Promise.allSettled(chunk.map((t) => store.putEventTrigger(t.pk, t.record)));
    const errors: unknown[] = [];
    for (const outcome of settled)
      if (outcome.status === 'fulfilled') results.push(outcome.value);
      else errors.push(outcome.reason);
    const fault = errors.find((error) => !(error instanceof StorageRejectedError));
    if (fault !== undefined) throw fault;
    if (errors.length > 0) throw errors[0];
  }
}

/** An error as a log field: its name and code only, since messages can quote the values they refused. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${error.name} (${code})` : error.name;
}

/** A notification record DynamoDB refused, reduced to what is always storable (the body itself aside). */
function minimalRecord(record: NotificationRecord, error: Error): NotificationRecord {
  return {
    entity: 'notification',
    notification_id: record.notification_id,
    // The tenant and signature of a tenant URL's notification are part of its key (`notificationKey`).
    ...(record.tenant_id === undefined ? {} : { tenant_id: record.tenant_id }),
    ...(record.signed_by === undefined ? {} : { signed_by: record.signed_by }),
    type: null,
    status: 'unparseable',
    received_at: record.received_at,
    body: record.body,
    body_encoding: record.body_encoding,
    reason: error.message,
    processed_at: record.processed_at,
    ...(record.expires_at === undefined ? {} : { expires_at: record.expires_at }),
  };
}

/** Process one SQS batch; returns the ids of messages to retry (SQS partial batch response). */
export async function processBatch(messages: readonly QueueMessage[], deps: WorkerDeps): Promise<string[]> {
  const failures: string[] = [];
  const groups = new Map<string, { messageId: string; plan: Plan; opsReplay: boolean }[]>();

  for (const message of messages) {
    try {
      const envelope = decodeEnvelope(message.body);
      const plan = planNotification(envelope, deps.clock(), { retentionDays: deps.retentionDays });
      const group = groups.get(plan.orderingKey) ?? [];
      group.push({ messageId: message.messageId, plan, opsReplay: envelope.opsReplay === true });
      groups.set(plan.orderingKey, group);
    } catch (error) {
      // Only a message this service did not write can fail here; keep it for the DLQ, never drop it.
      deps.logger.error('queue message rejected', { messageId: message.messageId, error: describe(error) });
      failures.push(message.messageId);
    }
  }

  // Step 0. The batch's notification records, in one read: a body recorded before is a replay, and has no
  // effect. Ordering alone cannot tell a replay of a body without triggered_at (its receipt time is later on
  // every delivery), nor of a body kept `unparseable` because DynamoDB refused its values (the record may
  // take them now).
  const all = [...groups.values()].flat();
  let seen = new Map<string, string>();
  if (all.length > 0) {
    try {
      seen = await deps.store.notificationStatuses(all.map(({ plan }) => notificationKey(plan.notification)));
    } catch (error) {
      deps.logger.warn('batch will be retried', { messages: messages.length, error: describe(error) });
      return messages.map((message) => message.messageId);
    }
  }

  const retry = (messageId: string, plan: Plan, error: unknown) => {
    failures.push(messageId);
    deps.logger.warn('notification will be retried', {
      ...plan.logFields,
      messageId,
      error: describe(error),
    });
  };

  // Step 1. Different records in parallel; notifications for one record in arrival order, so that equal
  // `triggered_at` values apply in the order they came. After one fails, the rest of its group is retried
  // too, so a later notification never overtakes an earlier one that is still to be applied.
  const applied: Applied[] = [];
  // The same body twice in one batch (a duplicate, a replay) is one notification: its notification record is
  // written only in step 2, and a body without triggered_at, delivered again after a newer notification of the
  // same record, would otherwise apply a second time (its later receipt time orders it after the newer one).
  // The same body always has the same ordering key, so both deliveries are in one group, in order.
  const firstDelivery = new Map<string, Applied>();
  await Promise.all(
    [...groups.values()].map(async (group) => {
      let failed = false;
      for (const { messageId, plan, opsReplay } of group) {
        if (failed) {
          failures.push(messageId);
          continue;
        }
        try {
          // The same body at two tenants' URLs is two notifications (shared/contract/records.ts).
          const key = notificationKey(plan.notification);
          const status = seen.get(key);
          const earlier = firstDelivery.get(key);
          // Already recorded (applied, stale, rejected, …): a duplicate, which changes nothing, not even its
          // record; a rejection is final (a record's tenant never changes). Only `npm run ops -- replay` applies a
          // body kept unparseable / unknown_type (after a fix, or once the record can take it).
          const replayable = opsReplay && (status === 'unparseable' || status === 'unknown_type');
          if (earlier)
            applied.push({ messageId, plan: earlier.plan, status: earlier.status, duplicate: true });
          else if (status !== undefined && !replayable)
            applied.push({ messageId, plan, status: status as NotificationStatus, duplicate: true });
          else {
            const result = await applyPlan(messageId, plan, deps.store);
            firstDelivery.set(key, result);
            applied.push(result);
          }
        } catch (error) {
          failed = true;
          retry(messageId, plan, error);
        }
      }
    }),
  );

  // Step 2. The notification records of everything step 1 got through, in one round trip.
  const processedAt = deps.clock().toISOString();
  const records: NotificationRecord[] = applied.map(({ plan, status }) => ({
    ...plan.notification,
    status,
    processed_at: processedAt,
  }));
  const written = await deps.store.putNotifications(records);
  // A record DynamoDB refused for its values is written again in its minimal form, so it is never lost.
  const refused = written.flatMap((result, index) => (result instanceof StorageRejectedError ? [index] : []));
  if (refused.length > 0) {
    const again = await deps.store.putNotifications(
      refused.map((index) => minimalRecord(records[index] as NotificationRecord, written[index] as Error)),
    );
    refused.forEach((index, i) => {
      written[index] = again[i] as (typeof written)[number];
      const entry = applied[index];
      if (entry && !(again[i] instanceof Error)) entry.status = 'unparseable';
    });
  }
  applied.forEach(({ messageId, plan, status, duplicate: unchanged }, index) => {
    const result = written[index];
    if (result instanceof Error || result === undefined) {
      retry(messageId, plan, result ?? new Error('no result for the notification record'));
      return;
    }
    const duplicate = unchanged || result === 'exists';
    if (status === 'rejected' && !duplicate)
      // A tenant's own secret signed a notification for a record that is not that tenant's: a misrouted
      // subscription, or a tenant forging another's notifications (alarmed: TenantMismatches).
      deps.logger.warn(LOG_EVENTS.notificationTenantMismatch, { ...plan.logFields, status });
    else
      deps.logger.info(duplicate ? 'duplicate notification ignored' : 'notification processed', {
        ...plan.logFields,
        status,
      });
    deps.onOutcome?.({
      type: plan.notification.type,
      status,
      duplicate,
      triggerDelays: duplicate
        ? []
        : plan.triggerWrites.flatMap((write) =>
            write.record.delay_seconds === undefined ? [] : [write.record.delay_seconds],
          ),
    });
  });
  return failures;
}
