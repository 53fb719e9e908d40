import * as z from 'zod/mini';

/**
 * The downstream events' types for a consumer in another repository: copy this one file (it imports nothing
 * but zod 4). It describes the events on the `EventBusName` bus (source `cronofy.notifications`); a test of the
 * project that produces them (test/unit/event-schemas.test.ts) keeps it equal to the types that code uses.
 * Objects are open: fields added later are kept, not rejected.
 */

export const EVENT_SOURCE = 'cronofy.notifications';

export const DETAIL_TYPES = [
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
  'event.conferencing_assigned',
  'event.conferencing_failing',
  'event_trigger.fired',
] as const;
export type DetailType = (typeof DETAIL_TYPES)[number];

/** An event time: an ISO 8601 string (a date alone for all-day events), or `{ time, tzid }`. */
const eventTime = z.union([z.string(), z.looseObject({ time: z.string(), tzid: z.optional(z.string()) })]);

const participant = z.looseObject({
  email: z.optional(z.string()),
  display_name: z.optional(z.string()),
  sub: z.optional(z.string()),
  status: z.optional(z.string()),
});

/** Times are UTC ISO 8601 strings unless said otherwise. */
export const schedulingRequestSchema = z.object({
  entity: z.literal('scheduling_request'),
  scheduling_request_id: z.string(),
  /** The last lifecycle step applied; absent while only participant changes have arrived. */
  status: z.optional(
    z.enum([
      'pending',
      'time_chosen',
      'rescheduled',
      'declined',
      'no_times_available',
      'more_times_requested',
      'event_started',
      'event_ended',
      'cancelled',
    ]),
  ),
  correlation_id: z.optional(z.string()),
  /** Cronofy's `event.metadata.scheduler`, `captured_data.*` included. */
  metadata: z.optional(z.record(z.string(), z.unknown())),
  event: z.optional(
    z.object({
      start: z.optional(eventTime),
      end: z.optional(eventTime),
      summary: z.optional(z.string()),
      host: z.optional(participant),
      attendees: z.optional(z.array(participant)),
    }),
  ),
  recipient_tzid: z.optional(z.string()),
  /** The notification type whose lifecycle step `status` shows. */
  last_notification_type: z.optional(z.string()),
  /** Cronofy's time of the notification whose step `status` shows (values it left out are an older one's). */
  triggered_at: z.optional(z.string()),
  /** The same for the participants (`event.host`, `event.attendees`). */
  participants_triggered_at: z.optional(z.string()),
  /** The record's write counter: a higher revision is a later state of the same record. */
  revision: z.optional(z.number()),
  created_via: z.optional(z.string()),
  select_url: z.optional(z.string()),
  dashboard_url: z.optional(z.string()),
  cancelled_at: z.optional(z.string()),
  /** When a reconciliation with Cronofy last changed it. */
  reconciled_at: z.optional(z.string()),
  tenant_id: z.optional(z.string()),
});
export type SchedulingRequest = z.infer<typeof schedulingRequestSchema>;

export const eventSchema = z.object({
  entity: z.literal('event'),
  event_id: z.string(),
  conferencing: z.optional(
    z.object({
      status: z.enum(['assigned', 'failing']),
      provider_name: z.optional(z.string()),
      join_url: z.optional(z.string()),
      subtype: z.optional(z.string()),
    }),
  ),
  start: z.optional(eventTime),
  end: z.optional(eventTime),
  summary: z.optional(z.string()),
  triggered_at: z.optional(z.string()),
  revision: z.optional(z.number()),
  tenant_id: z.optional(z.string()),
});
export type Event = z.infer<typeof eventSchema>;

export const eventTriggerSchema = z.object({
  entity: z.literal('event_trigger'),
  event_id: z.string(),
  /** As Cronofy sent it, e.g. `{ "before": "event_start", "offset": { "minutes": 5 } }`. */
  transition: z.record(z.string(), z.unknown()),
  notification_id: z.string(),
  received_at: z.string(),
  /** When the trigger was due, when the event's times allow computing it. */
  target_time: z.optional(z.string()),
  /** received_at − target_time, in seconds. */
  delay_seconds: z.optional(z.number()),
  summary: z.optional(z.string()),
  tenant_id: z.optional(z.string()),
});
export type EventTrigger = z.infer<typeof eventTriggerSchema>;

const detail = <R extends z.core.$ZodType>(record: R) =>
  z.object({
    /** The same change always has the same id: drop a duplicate delivery by it. */
    event_id: z.string(),
    /** When the change was written. */
    occurred_at: z.string(),
    tenant_id: z.optional(z.string()),
    /** The whole new state of the record; only its identity when `record_truncated`. */
    record,
    /** Top-level fields of `record` this change set, changed or removed. */
    changed: z.array(z.string()),
    record_truncated: z.optional(
      z
        .literal(true)
        .check(
          z.describe(
            'Present when the whole record would make the event larger than EventBridge takes (256 KB): `record` then ' +
              'holds only its identity (entity, id, tenant_id, status, revision and a few small fields); `changed` and ' +
              '`event_id` are as for the whole record. Read the current record from the table or its stream.',
          ),
        ),
    ),
  });

export const schedulingRequestDetailSchema = detail(schedulingRequestSchema);
export const eventDetailSchema = detail(eventSchema);
export const eventTriggerDetailSchema = detail(eventTriggerSchema);

export type Detail<R> = {
  event_id: string;
  occurred_at: string;
  tenant_id?: string;
  record: R;
  changed: string[];
  /** `record` holds only the record's identity: read the current record from the table or its stream. */
  record_truncated?: true;
};

/** An event as the bus delivers it to a rule's target. */
export type CronofyEvent = {
  version: string;
  id: string;
  source: typeof EVENT_SOURCE;
  account: string;
  time: string;
  region: string;
  resources: string[];
} & (
  | { 'detail-type': Extract<DetailType, `scheduling_request.${string}`>; detail: Detail<SchedulingRequest> }
  | { 'detail-type': Extract<DetailType, `event.${string}`>; detail: Detail<Event> }
  | { 'detail-type': 'event_trigger.fired'; detail: Detail<EventTrigger> }
);

/** The `detail` schema of a detail-type. */
export function detailSchemaOf(detailType: DetailType) {
  if (detailType.startsWith('scheduling_request.')) return schedulingRequestDetailSchema;
  if (detailType.startsWith('event_trigger.')) return eventTriggerDetailSchema;
  return eventDetailSchema;
}

/** Validates an event delivered by the bus; `undefined` for anything else (another source, a detail-type added later). */
export function parseCronofyEvent(value: unknown): CronofyEvent | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const event = value as Record<string, unknown>;
  const detailType = event['detail-type'];
  if (event.source !== EVENT_SOURCE || !DETAIL_TYPES.includes(detailType as DetailType)) return undefined;
  return detailSchemaOf(detailType as DetailType).safeParse(event.detail).success
    ? (value as CronofyEvent)
    : undefined;
}
