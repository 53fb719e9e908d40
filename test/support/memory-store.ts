import type {
  NotificationWriteResult,
  RecordStore,
  StateWrite,
  StateWriteResult,
} from '../../shared/ports.ts';
import type { EventTriggerRecord, NotificationRecord } from '../../shared/records.ts';

/** In-memory RecordStore with the DynamoDB adapter's conditions, for fast unit tests. */
export class MemoryStore implements RecordStore {
  readonly items = new Map<string, Record<string, unknown>>();
  /** Number of item changes, like stream records. */
  changes = 0;
  failNext: Error[] = [];

  private maybeFail(): void {
    const error = this.failNext.shift();
    if (error) throw error;
  }

  async applyState(write: StateWrite): Promise<StateWriteResult> {
    this.maybeFail();
    const item = this.items.get(write.pk);
    if (item) {
      const applied = item.applied_notifications as string[];
      if (applied.includes(write.notificationId)) return 'already_applied';
      const current = item.triggered_at as string | undefined;
      if (write.triggeredAt !== undefined && current !== undefined && current > write.triggeredAt)
        return 'stale';
    }
    const next: Record<string, unknown> = { ...(item ?? {}), pk: write.pk, ...write.set };
    if (write.setNested) {
      const parent = (next[write.setNested.attribute] as Record<string, unknown> | undefined) ?? {};
      next[write.setNested.attribute] = { ...parent, ...write.setNested.fields };
    }
    if (write.triggeredAt !== undefined) next.triggered_at = write.triggeredAt;
    next.applied_notifications = [...((item?.applied_notifications as string[]) ?? []), write.notificationId];
    this.items.set(write.pk, next);
    this.changes++;
    return 'applied';
  }

  async putEventTrigger(pk: string, record: EventTriggerRecord): Promise<'applied' | 'already_applied'> {
    this.maybeFail();
    if (this.items.has(pk)) return 'already_applied';
    this.items.set(pk, { ...record, pk });
    this.changes++;
    return 'applied';
  }

  /** Like the adapter: one call for the batch; `failNext` fails it as a whole, as a lost round trip would. */
  async putNotifications(records: readonly NotificationRecord[]): Promise<NotificationWriteResult[]> {
    if (records.length === 0) return [];
    try {
      this.maybeFail();
    } catch (error) {
      return records.map(() => error as Error);
    }
    return records.map((record) => this.putNotification(record));
  }

  putNotification(record: NotificationRecord): 'created' | 'exists' {
    const pk = `notification#${record.notification_id}`;
    const existing = this.items.get(pk)?.status as string | undefined;
    const upgradable =
      (existing === 'unparseable' || existing === 'unknown_type') && existing !== record.status;
    if (existing !== undefined && !upgradable) return 'exists';
    this.items.set(pk, { ...record, pk });
    this.changes++;
    return 'created';
  }

  get(pk: string): Record<string, unknown> | undefined {
    return this.items.get(pk);
  }
}
