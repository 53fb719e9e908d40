/**
 * The sparse index of open scheduling requests, which reconciliation reads instead of scanning the table.
 *
 * A `scheduling_request` record carries `open_bucket` and `open_until` only while its status is open
 * (`pending`, `time_chosen`, `rescheduled`, `more_times_requested`, `no_times_available`); the lifecycle write
 * that makes it final (`declined`, `cancelled`, `event_started`, `event_ended`) removes both, so only open
 * records are in the index. `open_until` is the event's end (UTC ISO 8601, milliseconds) when one is known,
 * else OPEN_UNTIL_UNKNOWN: reconciliation queries `open_until >= now`, which leaves out requests whose event
 * has ended, and removes the attributes of those (index upkeep only, the record's state is not touched).
 *
 * The two attributes belong to the lifecycle aspect: they change only when the lifecycle applies, under the
 * same ordering rules (shared/contract/ordering.ts).
 */
import { parseCalendarDate, parseInstant, storedTime } from './instant.ts';

export const OPEN_INDEX = {
  name: 'open-scheduling-requests',
  /** Partition key of the index: one value for every open record (low volume: hiring, not traffic). */
  partitionKey: 'open_bucket',
  /** Sort key: when the request stops needing reconciliation. */
  sortKey: 'open_until',
  bucket: 'open',
} as const;

/** No event time known yet (pending, more times requested): open until a lifecycle step closes it. */
export const OPEN_UNTIL_UNKNOWN = '9999-12-31T23:59:59.999Z';

export const OPEN_STATUSES = [
  'pending',
  'time_chosen',
  'rescheduled',
  'more_times_requested',
  'no_times_available',
] as const;

export function isOpenStatus(status: unknown): boolean {
  return (OPEN_STATUSES as readonly unknown[]).includes(status);
}

/** `{time}` or a bare string, as Cronofy sends event times. */
function eventTimeText(time: unknown): string | undefined {
  if (typeof time === 'string') return time;
  if (typeof time === 'object' && time !== null && typeof (time as { time?: unknown }).time === 'string')
    return (time as { time: string }).time;
  return undefined;
}

/** When an open request stops being open: its event's end (normalised), else OPEN_UNTIL_UNKNOWN. */
export function openUntil(eventEnd: unknown): string {
  const text = eventTimeText(eventEnd);
  if (text === undefined) return OPEN_UNTIL_UNKNOWN;
  // An instant, or a date (all-day event, at midnight UTC: the day after is when it has surely ended). Anything
  // else (a date that does not exist, a local time without its zone) is no known end.
  const instant = parseInstant(text);
  const date = instant === undefined ? parseCalendarDate(text) : undefined;
  const end = instant ?? (date === undefined ? undefined : date + 86_400_000);
  return storedTime(end) ?? OPEN_UNTIL_UNKNOWN;
}

/** What a lifecycle write with `status` does to the index attributes (nothing when it sets no status). */
export function openIndexChange(
  status: unknown,
  eventEnd: unknown,
): { set?: Record<string, string>; remove?: string[] } {
  if (status === undefined) return {};
  if (isOpenStatus(status))
    return {
      set: { [OPEN_INDEX.partitionKey]: OPEN_INDEX.bucket, [OPEN_INDEX.sortKey]: openUntil(eventEnd) },
    };
  return { remove: [OPEN_INDEX.partitionKey, OPEN_INDEX.sortKey] };
}
