import type { Outcome } from '../metrics.ts';
import type { Clock, Logger, RecordStore } from '../ports.ts';
import type { NotificationStatus } from '../records.ts';
import { type Plan, planNotification } from './plan.ts';
import { decodeEnvelope } from './queue-message.ts';

/**
 * Executes plans with an exactly-once effect and no transaction:
 *
 * 1. Each state write is one conditional UpdateItem on the record itself. It sets the new state and appends
 *    the notification's mark to `applied_notifications` in the same write, conditioned on the mark not being
 *    there yet and on the record's `triggered_at` not being newer. So "seen" and "applied" are one atomic
 *    write: a retry or a concurrent duplicate finds its mark already there and changes nothing.
 * 2. Only then are the batch's notification records created, all in one round trip, each only if absent.
 *    A crash between 1 and 2 is repaired by redelivery: step 1 reports `already_applied`, and step 2 runs.
 *
 * Any other failure (DynamoDB unreachable, throttled) leaves the message to be reported as a batch item
 * failure, and SQS delivers it again.
 */

export interface WorkerDeps {
  store: RecordStore;
  clock: Clock;
  logger: Logger;
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

/** Step 1: the plan's state and trigger writes, in order. */
async function applyPlan(messageId: string, plan: Plan, store: RecordStore): Promise<Applied> {
  if (plan.status !== undefined) return { messageId, plan, status: plan.status, duplicate: false };
  const results: string[] = [];
  for (const write of plan.stateWrites) results.push(await store.applyState(write));
  for (const trigger of plan.triggerWrites)
    results.push(await store.putEventTrigger(trigger.pk, trigger.record));
  return {
    messageId,
    plan,
    // Stale only when nothing at all could be applied: the newer state already there wins.
    status: results.every((result) => result === 'stale') ? 'stale' : 'applied',
    duplicate: results.every((result) => result === 'already_applied'),
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Process one SQS batch; returns the ids of messages to retry (SQS partial batch response). */
export async function processBatch(messages: readonly QueueMessage[], deps: WorkerDeps): Promise<string[]> {
  const failures: string[] = [];
  const groups = new Map<string, { messageId: string; plan: Plan }[]>();

  for (const message of messages) {
    try {
      const plan = planNotification(decodeEnvelope(message.body), deps.clock());
      const group = groups.get(plan.orderingKey) ?? [];
      group.push({ messageId: message.messageId, plan });
      groups.set(plan.orderingKey, group);
    } catch (error) {
      // Only a message this service did not write can fail here; keep it for the DLQ, never drop it.
      deps.logger.error('queue message rejected', { messageId: message.messageId, error: String(error) });
      failures.push(message.messageId);
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
  await Promise.all(
    [...groups.values()].map(async (group) => {
      let failed = false;
      for (const { messageId, plan } of group) {
        if (failed) {
          failures.push(messageId);
          continue;
        }
        try {
          applied.push(await applyPlan(messageId, plan, deps.store));
        } catch (error) {
          failed = true;
          retry(messageId, plan, error);
        }
      }
    }),
  );

  // Step 2. The notification records of everything step 1 got through, in one round trip.
  const processedAt = deps.clock().toISOString();
  const written = await deps.store.putNotifications(
    applied.map(({ plan, status }) => ({ ...plan.notification, status, processed_at: processedAt })),
  );
  applied.forEach(({ messageId, plan, status, duplicate: unchanged }, index) => {
    const result = written[index];
    if (result instanceof Error || result === undefined) {
      retry(messageId, plan, result ?? new Error('no result for the notification record'));
      return;
    }
    const duplicate = unchanged || result === 'exists';
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
