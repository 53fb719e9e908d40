import * as z from 'zod/mini';
import {
  eventRecordSchema,
  eventTriggerRecordSchema,
  schedulingRequestRecordSchema,
} from '../contract/records.ts';

/**
 * The downstream events' types, derived from the record schemas of the contract (shared/contract/records.ts):
 * the state a consumer sees is the record without its bookkeeping. The JSON Schemas under ./schemas/ and the
 * self-contained module for other repositories (./consumer-types.ts) are generated from, or checked against,
 * these.
 */

export const EVENT_SOURCE = 'cronofy.notifications';

export const SCHEDULING_REQUEST_DETAIL_TYPES = [
  'scheduling_request.created',
  'scheduling_request.time_chosen',
  'scheduling_request.rescheduled',
  'scheduling_request.declined',
  'scheduling_request.no_times_available',
  'scheduling_request.more_times_requested',
  'scheduling_request.cancelled',
  'scheduling_request.event_started',
  'scheduling_request.event_ended',
  'scheduling_request.participants_changed',
] as const;
export const EVENT_DETAIL_TYPES = ['event.conferencing_assigned', 'event.conferencing_failing'] as const;
export const EVENT_TRIGGER_DETAIL_TYPES = ['event_trigger.fired'] as const;

export const DETAIL_TYPES = [
  ...SCHEDULING_REQUEST_DETAIL_TYPES,
  ...EVENT_DETAIL_TYPES,
  ...EVENT_TRIGGER_DETAIL_TYPES,
] as const;
export type DetailType = (typeof DETAIL_TYPES)[number];

/**
 * Fields of a record that only the ordering model, the open-requests index or the write itself need, left out
 * of an event's `record` and never a reason for an event. (`*_untimed` and `*_values_as_of` are not part of the
 * record schemas, so parseStreamImage already drops them.) `revision` stays: it is the record's write counter, the
 * order of its events for a consumer (EventBridge does not deliver in order).
 */
export const BOOKKEEPING = {
  scheduling_request: [
    'lifecycle_as_of',
    'lifecycle_received_at',
    'lifecycle_applied',
    'participants_as_of',
    'participants_received_at',
    'participants_applied',
    'status_as_of',
    'status_received_at',
    'status_applied',
    'open_bucket',
    'open_until',
    'updated_at',
  ],
  event: ['conferencing_as_of', 'conferencing_received_at', 'conferencing_applied', 'updated_at'],
  event_trigger: [],
} as const;

const omitted = <const K extends readonly string[]>(keys: K) =>
  Object.fromEntries(keys.map((key) => [key, true])) as { [P in K[number]]: true };

export const schedulingRequestStateSchema = z.omit(
  schedulingRequestRecordSchema,
  omitted(BOOKKEEPING.scheduling_request),
);
export type SchedulingRequestState = z.infer<typeof schedulingRequestStateSchema>;

export const eventStateSchema = z.omit(eventRecordSchema, omitted(BOOKKEEPING.event));
export type EventState = z.infer<typeof eventStateSchema>;

export const eventTriggerStateSchema = eventTriggerRecordSchema;
export type EventTriggerState = z.infer<typeof eventTriggerStateSchema>;

export type StateRecord = SchedulingRequestState | EventState | EventTriggerState;

/** The field that identifies a record of each entity (with its tenant, for `event` and `event_trigger`). */
export const RECORD_ID_FIELD = {
  scheduling_request: 'scheduling_request_id',
  event: 'event_id',
  event_trigger: 'event_id',
} as const;

export const recordIdOf = (record: StateRecord): string =>
  String((record as unknown as Record<string, unknown>)[RECORD_ID_FIELD[record.entity]]);

const RECORD_TRUNCATED =
  'Present when the whole record would make the event larger than EventBridge takes (256 KB): `record` then ' +
  'holds only its identity (entity, id, tenant_id, status, revision and a few small fields); `changed` and ' +
  '`event_id` are as for the whole record. Read the current record from the table or its stream.';

const detailOf = <R extends z.core.$ZodType>(record: R) =>
  z.object({
    /** Deterministic: the same change always has the same id (drop duplicates by it). */
    event_id: z.string(),
    /** When the change was written (UTC ISO 8601, milliseconds). */
    occurred_at: z.string(),
    tenant_id: z.optional(z.string()),
    record,
    /** Top-level field names of `record` that this change set, changed or removed. */
    changed: z.array(z.string()),
    record_truncated: z.optional(z.literal(true).check(z.describe(RECORD_TRUNCATED))),
  });

export const schedulingRequestDetailSchema = detailOf(schedulingRequestStateSchema);
export const eventDetailSchema = detailOf(eventStateSchema);
export const eventTriggerDetailSchema = detailOf(eventTriggerStateSchema);

export type EventDetail<R extends StateRecord = StateRecord> = {
  event_id: string;
  occurred_at: string;
  tenant_id?: string;
  record: R;
  changed: string[];
  /** `record` is reduced to its identity: the whole record did not fit in a PutEvents entry. */
  record_truncated?: true;
};

/** The `detail` schema of each detail-type. */
export function detailSchemaOf(detailType: DetailType) {
  if (detailType.startsWith('scheduling_request.')) return schedulingRequestDetailSchema;
  if (detailType.startsWith('event_trigger.')) return eventTriggerDetailSchema;
  return eventDetailSchema;
}

/** What is put on the bus: EventBridge adds `version`, `id`, `account`, `region`, `resources`. */
export interface DomainEvent {
  source: typeof EVENT_SOURCE;
  'detail-type': DetailType;
  /** Equal to `detail.occurred_at`. */
  time: string;
  detail: EventDetail;
}

/** An event as a bus delivers it to a target (and as local mode serves it). */
export interface BusEvent extends DomainEvent {
  version: '0';
  id: string;
  account: string;
  region: string;
  resources: string[];
}

/** The JSON Schema (draft 4, as EventBridge's schema registry takes it) of one detail-type's whole event. */
export function eventJsonSchema(detailType: DetailType): Record<string, unknown> {
  const envelope = z.object({
    version: z.string(),
    id: z.string(),
    'detail-type': z.literal(detailType),
    source: z.literal(EVENT_SOURCE),
    account: z.string(),
    time: z.string(),
    region: z.string(),
    resources: z.array(z.string()),
    detail: detailSchemaOf(detailType),
  });
  // `input`: objects stay open (no additionalProperties: false), so a consumer validating against a schema of
  // today keeps accepting events that carry fields added later.
  const schema = z.toJSONSchema(envelope, { target: 'draft-4', io: 'input' }) as Record<string, unknown>;
  return { ...schema, title: detailType };
}
