/**
 * Log messages that something outside the code depends on: the metric filters behind alarms and dashboard
 * graphs (infra/constructs/monitoring.ts) match them exactly. The code that logs and the filter both take
 * them from here, so renaming a message cannot silently break an alarm.
 */
export const LOG_EVENTS = {
  /** Ingest refused a notification for its signature (missing or not matching any client secret). */
  notificationRejectedSignature: 'notification rejected: signature',
  /** Ingest refused a notification larger than NOTIFICATION_BODY_MAX_BYTES. */
  notificationRejectedTooLarge: 'notification rejected: too large',
  /**
   * The worker kept a notification as `rejected`: only a tenant's own secret signed it, and the record it
   * would change is not that tenant's (the worker's TenantMismatches metric counts the same).
   */
  notificationTenantMismatch: 'notification rejected: tenant mismatch',
} as const;
export type LogEvent = (typeof LOG_EVENTS)[keyof typeof LOG_EVENTS];
