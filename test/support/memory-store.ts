import { notificationKey } from '#shared/contract/keys.ts';
import { mergeState } from '#shared/contract/ordering.ts';
import type { EventTriggerRecord, NotificationRecord } from '#shared/contract/records.ts';
import type {
  NotificationWriteResult,
  RecordStore,
  StateWrite,
  StateWriteResult,
} from '#shared/core/ports.ts';

/** In-memory RecordStore with the DynamoDB adapter's semantics (the same `mergeState`), for fast unit tests. */
export class MemoryStore implements RecordStore {
  readonly items = new Map<string, Record<string, unknown>>();
  /** Number of item changes, like stream records. */
  changes = 0;
  failNext: Error[] = [];

  private maybeFail(): void {
    const error = this.failNext.shift();
    if (error) throw error;
  }

  /** The adapter's semantics exactly: the same pure merge, applied to the stored item. */
  async applyState(write: StateWrite): Promise<StateWriteResult> {
    this.maybeFail();
    const old = this.items.get(write.pk);
    const merged = mergeState(old, write);
    if (merged.outcome === 'tenant_mismatch') return merged.outcome;
    const tenant = old?.tenant_id ?? write.tenantId;
    if (typeof tenant === 'string') write.onRecordTenant?.(tenant);
    if (merged.outcome !== 'applied' || !merged.item) return merged.outcome;
    this.items.set(write.pk, merged.item);
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
    const pk = notificationKey(record);
    const existing = this.items.get(pk)?.status as string | undefined;
    const upgradable =
      ((existing === 'unparseable' || existing === 'unknown_type') && existing !== record.status) ||
      (existing === 'stale' && record.status === 'applied');
    if (existing !== undefined && !upgradable) return 'exists';
    this.items.set(pk, { ...record, pk });
    this.changes++;
    return 'created';
  }

  async notificationStatuses(keys: readonly string[]): Promise<Map<string, string>> {
    this.maybeFail();
    const statuses = new Map<string, string>();
    for (const key of keys) {
      const status = this.items.get(key)?.status;
      if (typeof status === 'string') statuses.set(key, status);
    }
    return statuses;
  }

  get(pk: string): Record<string, unknown> | undefined {
    return this.items.get(pk);
  }
}
