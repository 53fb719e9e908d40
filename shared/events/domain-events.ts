import { sha256Hex } from '../contract/keys.ts';
import {
  type AttributeValue,
  type DownstreamRecord,
  type EventRecord,
  type EventTriggerRecord,
  parseStreamImage,
  type SchedulingRequestRecord,
} from '../contract/records.ts';
import type { BusEntry } from '../core/ports.ts';
import {
  BOOKKEEPING,
  type BusEvent,
  type DetailType,
  type DomainEvent,
  EVENT_SOURCE,
  type EventDetail,
  type StateRecord,
} from './schemas.ts';

/**
 * From a change of a record on the table's stream to the downstream event it means: zero or one event per
 * stream record, a pure function of the record's old and new image, so a replayed stream record (or a retried
 * delivery) always maps to the same event with the same `event_id`. The same code runs in AWS (the stream
 * function, functions/events/handler.ts) and in local mode (infra/local/stream.ts).
 */

export type StreamEventName = 'INSERT' | 'MODIFY' | 'REMOVE';

/** A change as a stream record carries it, the images already parsed by parseStreamImage. */
export interface RecordChange {
  eventName: StreamEventName | undefined;
  oldRecord: DownstreamRecord | undefined;
  newRecord: DownstreamRecord | undefined;
}

/** What a DynamoDB stream record looks like to a Lambda function, to the SDK's GetRecords, and locally. */
export interface StreamRecordLike {
  eventName?: string;
  dynamodb?: {
    NewImage?: Record<string, AttributeValue> | Record<string, unknown>;
    OldImage?: Record<string, AttributeValue> | Record<string, unknown>;
  };
}

export function recordChangeOf(record: StreamRecordLike): RecordChange {
  const name = record.eventName;
  return {
    eventName: name === 'INSERT' || name === 'MODIFY' || name === 'REMOVE' ? name : undefined,
    oldRecord: parseStreamImage(record.dynamodb?.OldImage),
    newRecord: parseStreamImage(record.dynamodb?.NewImage),
  };
}

/** The event a stream record means, if any. */
export function domainEventOfStreamRecord(record: StreamRecordLike): DomainEvent | undefined {
  return domainEventOf(recordChangeOf(record));
}

/**
 * Fields that say where a change came from (the notification's time and type, the reconciliation that made
 * it): part of the record and listed in `changed`, but on their own not a change a reader would act on (a
 * newer notification with the same values).
 */
const PROVENANCE: Record<StateEntity, readonly string[]> = {
  scheduling_request: [
    'triggered_at',
    'participants_triggered_at',
    'last_notification_type',
    'reconciled_at',
  ],
  event: ['triggered_at'],
  event_trigger: [],
};

/** Set once by `POST /scheduling-requests`: on their own, the fact that the request was created through the API. */
const CREATED_VIA_API = ['select_url', 'dashboard_url', 'created_via', 'tenant_id'];

const PARTICIPANT_FIELDS = ['host', 'attendees'];

type StateEntity = keyof typeof BOOKKEEPING;
type StateSource = SchedulingRequestRecord | EventRecord | EventTriggerRecord;

const isState = (record: DownstreamRecord | undefined): record is StateSource =>
  record !== undefined && record.entity in BOOKKEEPING;

export function domainEventOf(change: RecordChange): DomainEvent | undefined {
  // A REMOVE is the TTL or an operator deleting an item, not a change of state.
  if (change.eventName === 'REMOVE' || !isState(change.newRecord)) return undefined;
  const next = change.newRecord;
  const previous =
    isState(change.oldRecord) && change.oldRecord.entity === next.entity ? change.oldRecord : undefined;
  const after = visibleState(next);
  const before = previous ? visibleState(previous) : undefined;
  const changed = changedFields(before, after);
  const detailType = detailTypeOf(previous, next, changed);
  if (!detailType) return undefined;
  const occurredAt = next.entity === 'event_trigger' ? next.received_at : next.updated_at;
  const detail: EventDetail = {
    event_id: eventIdOf(detailType, occurredAt, after),
    occurred_at: occurredAt,
    ...(next.tenant_id === undefined ? {} : { tenant_id: next.tenant_id }),
    record: after,
    changed,
  };
  const event: DomainEvent = { source: EVENT_SOURCE, 'detail-type': detailType, time: occurredAt, detail };
  if (fitsPutEvents(busEntryOf(event))) return event;
  // A record can hold up to DynamoDB's 400 KB (a large `captured_data` and a large attendee list, from two
  // bodies): an entry that big would be refused on every retry and hold up the shard's later events. The same
  // change, with the same `event_id`, goes out with the record reduced to what routes it.
  return {
    ...event,
    detail: { ...detail, record: truncatedState(after), record_truncated: true },
  };
}

/** PutEvents' limit on one entry, and on the total of one request's entries. */
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;

/** The PutEvents entry of an event. */
export function busEntryOf(event: DomainEvent): BusEntry {
  return {
    source: event.source,
    detailType: event['detail-type'],
    detail: JSON.stringify(event.detail),
    time: event.time,
  };
}

/**
 * An entry's size as EventBridge counts it: the UTF-8 bytes of Source, DetailType and Detail, and 14 for
 * Time (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html).
 */
export function entrySize(entry: BusEntry): number {
  return (
    Buffer.byteLength(entry.source) +
    Buffer.byteLength(entry.detailType) +
    Buffer.byteLength(entry.detail) +
    14
  );
}

/** The documentation asks for an entry smaller than the limit. */
const fitsPutEvents = (entry: BusEntry) => entrySize(entry) < PUT_EVENTS_MAX_BYTES;

/**
 * What a truncated event keeps of its record. `identity`: kept whatever its size, the fields the detail schema
 * requires and a rule routes on (the record's id and `transition` come from one notification body, at most
 * 190 KiB, so they fit). `small`: the rest a router or a consumer ordering its states needs, kept only when
 * small, so that no value written by a reconciliation or the API can make the reduced record too large again.
 */
const KEPT_WHEN_TRUNCATED: Record<StateEntity, { identity: readonly string[]; small: readonly string[] }> = {
  scheduling_request: {
    identity: ['entity', 'scheduling_request_id', 'tenant_id', 'status', 'revision'],
    small: [
      'correlation_id',
      'last_notification_type',
      'triggered_at',
      'participants_triggered_at',
      'created_via',
      'cancelled_at',
      'reconciled_at',
    ],
  },
  event: {
    identity: ['entity', 'event_id', 'tenant_id', 'revision'],
    small: ['conferencing', 'triggered_at'],
  },
  event_trigger: {
    identity: ['entity', 'event_id', 'tenant_id', 'transition', 'notification_id', 'received_at'],
    small: ['target_time', 'delay_seconds'],
  },
};

const SMALL_FIELD_BYTES = 1024;

function truncatedState(state: StateRecord): StateRecord {
  const { identity, small } = KEPT_WHEN_TRUNCATED[state.entity];
  const source = state as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const name of identity) if (source[name] !== undefined) out[name] = source[name];
  for (const name of small) {
    const value = source[name];
    if (value !== undefined && Buffer.byteLength(JSON.stringify(value)) <= SMALL_FIELD_BYTES)
      out[name] = value;
  }
  return out as unknown as StateRecord;
}

/**
 * The event as the bus delivers it to a target: EventBridge adds an id of its own (a new one on every put, so
 * `detail.event_id` is the one to deduplicate by), the account and region, and keeps `time` to the second.
 */
export function busEventOf(
  event: DomainEvent,
  from: { id: string; account: string; region: string },
): BusEvent {
  return {
    version: '0',
    id: from.id,
    'detail-type': event['detail-type'],
    source: event.source,
    account: from.account,
    time: event.time.replace(/\.\d+Z$/, 'Z'),
    region: from.region,
    resources: [],
    detail: event.detail,
  };
}

/** The record as an event carries it: bookkeeping left out, values made JSON (see jsonValue). */
export function visibleState(record: StateSource): StateRecord {
  const hidden = new Set<string>(BOOKKEEPING[record.entity]);
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(record)) {
    if (!hidden.has(name) && value !== undefined) out[name] = jsonValue(value);
  }
  return out as unknown as StateRecord;
}

function changedFields(before: StateRecord | undefined, after: StateRecord): string[] {
  const a = (before ?? {}) as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  names.delete('revision');
  return [...names].filter((name) => canonicalJson(a[name]) !== canonicalJson(b[name])).sort();
}

function detailTypeOf(
  previous: StateSource | undefined,
  next: StateSource,
  changed: string[],
): DetailType | undefined {
  const provenance = new Set(PROVENANCE[next.entity]);
  const meaningful = changed.filter((name) => !provenance.has(name));
  if (meaningful.length === 0) return undefined;
  switch (next.entity) {
    case 'event_trigger':
      // One record per (event, transition, target time): a rewrite of it is a replay of the same trigger.
      return previous ? undefined : 'event_trigger.fired';
    case 'event':
      return next.conferencing ? `event.conferencing_${next.conferencing.status}` : undefined;
    case 'scheduling_request':
      return schedulingRequestType(previous as SchedulingRequestRecord | undefined, next, meaningful);
  }
}

function schedulingRequestType(
  previous: SchedulingRequestRecord | undefined,
  next: SchedulingRequestRecord,
  meaningful: string[],
): DetailType | undefined {
  const step = (status: NonNullable<SchedulingRequestRecord['status']>): DetailType =>
    status === 'pending' ? 'scheduling_request.created' : `scheduling_request.${status}`;
  // A new lifecycle step (a reconciliation that found a missed one included).
  if (next.status !== undefined && next.status !== previous?.status) return step(next.status);
  const participantsOnly =
    meaningful.every((name) => name === 'event') &&
    eventFieldsChanged(previous, next).every((name) => PARTICIPANT_FIELDS.includes(name));
  // A record that has seen only participant changes has no status yet.
  if (participantsOnly || next.status === undefined) return 'scheduling_request.participants_changed';
  // The API's create landing on a record a notification had already made (its tenant alone is not that: a
  // notification at a tenant URL can bring it).
  if (
    meaningful.every((name) => CREATED_VIA_API.includes(name)) &&
    meaningful.some((name) => name !== 'tenant_id')
  )
    return 'scheduling_request.created';
  // The same step again with other values (a second reschedule, a reconciliation that corrected the times).
  return step(next.status);
}

function eventFieldsChanged(previous: SchedulingRequestRecord | undefined, next: SchedulingRequestRecord) {
  const a = (previous?.event ?? {}) as Record<string, unknown>;
  const b = (next.event ?? {}) as Record<string, unknown>;
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter(
    (name) => canonicalJson(a[name]) !== canonicalJson(b[name]),
  );
}

/**
 * sha256 of what identifies the change: its type, when it was written and the whole new state (entity, id and
 * `revision` included). A replayed stream record or a retried delivery has all of them equal; a later change
 * differs at least in its write time and revision, even one that returns the record to an earlier state.
 */
function eventIdOf(detailType: DetailType, occurredAt: string, state: StateRecord): string {
  return sha256Hex(canonicalJson([detailType, occurredAt, state])).slice(0, 32);
}

/**
 * A value as JSON carries it. The record schemas allow anything inside `metadata` and `transition`, and an
 * image can hold what JSON cannot: integers beyond 2^53 (read as bigint) become decimal strings, sets sorted
 * arrays, binary base64.
 */
function jsonValue(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Set) return [...value].map(jsonValue).sort(compareJson);
  if (Array.isArray(value)) return value.map(jsonValue);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [name, inner] of Object.entries(value)) if (inner !== undefined) out[name] = jsonValue(inner);
    return out;
  }
  return value;
}

const compareJson = (a: unknown, b: unknown) => {
  const x = canonicalJson(a);
  const y = canonicalJson(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

/** JSON with object keys sorted at every level: equal for equal values, whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, inner]) => inner !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([name, inner]) => `${JSON.stringify(name)}:${canonicalJson(inner)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
