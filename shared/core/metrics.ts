import type { NotificationStatus } from '../contract/records.ts';

/**
 * Custom metrics as CloudWatch Embedded Metric Format: one JSON log line per batch and notification type,
 * which CloudWatch turns into metrics with no API call from the function. Each line carries two dimension
 * sets, none (totals for alarms and the dashboard) and `type`.
 */

/** Default namespace; deployed workers get their stage's (`CronofyNotifications/<stage>`) in METRICS_NAMESPACE. */
export const METRICS_NAMESPACE = 'CronofyNotifications';

export interface Outcome {
  type: string | null;
  status: NotificationStatus;
  duplicate: boolean;
  /** Event Trigger delivery delays (seconds after the target time), when the event's times allowed it. */
  triggerDelays: number[];
}

const METRIC_BY_STATUS: Record<NotificationStatus, string> = {
  applied: 'NotificationsApplied',
  stale: 'NotificationsStale',
  unparseable: 'NotificationsUnparseable',
  unknown_type: 'NotificationsUnknownType',
  // The only reason a notification is rejected (shared/contract/tenants.ts); alarmed.
  rejected: 'TenantMismatches',
};

export function emfLines(outcomes: readonly Outcome[], now: Date, namespace = METRICS_NAMESPACE): string[] {
  const byType = new Map<string, Outcome[]>();
  for (const outcome of outcomes) {
    const type = outcome.type ?? 'none';
    byType.set(type, [...(byType.get(type) ?? []), outcome]);
  }
  return [...byType.entries()].map(([type, group]) => {
    const values: Record<string, number | number[]> = {};
    for (const outcome of group) {
      const name = outcome.duplicate ? 'NotificationsDuplicate' : METRIC_BY_STATUS[outcome.status];
      values[name] = ((values[name] as number | undefined) ?? 0) + 1;
    }
    const delays = group.flatMap((outcome) => outcome.triggerDelays);
    if (delays.length > 0) values.EventTriggerDelaySeconds = delays;
    return JSON.stringify({
      _aws: {
        Timestamp: now.getTime(),
        CloudWatchMetrics: [
          {
            Namespace: namespace,
            Dimensions: [[], ['type']],
            Metrics: Object.keys(values).map((name) => ({
              Name: name,
              Unit: name === 'EventTriggerDelaySeconds' ? 'Seconds' : 'Count',
            })),
          },
        ],
      },
      type,
      ...values,
    });
  });
}

/**
 * One EMF line of gauges with no dimensions (a level, read with the Maximum statistic): zeros are kept, since a
 * level of zero is news (the last disconnected tenant reconnected).
 */
export function gaugesLine(
  gauges: Readonly<Record<string, number>>,
  now: Date,
  namespace = METRICS_NAMESPACE,
): string {
  return JSON.stringify({
    _aws: {
      Timestamp: now.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: namespace,
          Dimensions: [[]],
          Metrics: Object.keys(gauges).map((name) => ({ Name: name, Unit: 'Count' })),
        },
      ],
    },
    ...gauges,
  });
}

/**
 * One EMF line of counters with no dimensions (totals for alarms and the dashboard), for the functions that
 * call Cronofy. Zero counters are left out; no line at all when every counter is zero.
 */
export function countersLine(
  counters: Readonly<Record<string, number>>,
  now: Date,
  namespace = METRICS_NAMESPACE,
): string | undefined {
  const values = Object.fromEntries(Object.entries(counters).filter(([, value]) => value !== 0));
  return Object.keys(values).length === 0 ? undefined : gaugesLine(values, now, namespace);
}
