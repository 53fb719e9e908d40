import * as z from 'zod/mini';
import { withContractBody } from './body-codec.ts';
import { eventTimeSchema, participantSchema } from './cronofy-shapes.ts';

/**
 * The downstream contract: the items on the table (and so on its stream). Every item has a string `entity`.
 * Downstream consumers parse a stream image with `parseStreamImage(record.dynamodb.NewImage)`.
 * Unknown fields are ignored (not rejected), so a consumer built today keeps working when fields are added.
 */

export const SCHEDULING_REQUEST_STATUSES = [
  'pending',
  'time_chosen',
  'rescheduled',
  'declined',
  'no_times_available',
  'more_times_requested',
  'event_started',
  'event_ended',
  'cancelled',
] as const;

/** `rejected`: kept, and nothing of it applied (`reason`: one of REJECTION_REASONS, shared/contract/tenants.ts). */
export const NOTIFICATION_STATUSES = ['applied', 'stale', 'unparseable', 'unknown_type', 'rejected'] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

const iso = z.string();

export { type EventTime, eventTimeSchema, type Participant, participantSchema } from './cronofy-shapes.ts';

/**
 * Bookkeeping of the ordering model, per aspect: the aspect's ordering time when it is not a `triggered_at`
 * (`<aspect>_received_at`: the receipt time of a notification without one, ranked below every other time;
 * `<aspect>_as_of`: the time of a reconciliation read or an API cancel) and `<aspect>_applied` the keys of the
 * notifications applied at exactly that time. Downstream readers can ignore them.
 */
const asOf = z.optional(iso);
const appliedKeys = z.optional(z.array(z.string()));

/** The tenant (§5 of the contract) the record belongs to, when known; once set, it never changes. */
const tenantId = z.optional(z.string());

export const schedulingRequestRecordSchema = z.object({
  entity: z.literal('scheduling_request'),
  scheduling_request_id: z.string(),
  tenant_id: tenantId,
  /** The last lifecycle step applied. Absent while only participant status changes have arrived. */
  status: z.optional(z.enum(SCHEDULING_REQUEST_STATUSES)),
  correlation_id: z.optional(z.string()),
  /** `event.metadata.scheduler`, `captured_data.*` keys included. */
  metadata: z.optional(z.record(z.string(), z.unknown())),
  event: z.optional(
    z.object({
      start: z.optional(eventTimeSchema),
      end: z.optional(eventTimeSchema),
      summary: z.optional(z.string()),
      host: z.optional(participantSchema),
      attendees: z.optional(z.array(participantSchema)),
    }),
  ),
  recipient_tzid: z.optional(z.string()),
  last_notification_type: z.optional(z.string()),
  /**
   * `notification.triggered_at` (UTC ISO 8601, milliseconds) of the notification whose lifecycle step the record
   * shows, with its values; a value group it left out (event times, metadata, time zone) shows an older
   * notification's. Absent when that notification carried none.
   */
  triggered_at: z.optional(iso),
  /** The same for the participants (`event.host`, `event.attendees`: one it left out shows an older one's). */
  participants_triggered_at: z.optional(iso),
  updated_at: iso,
  lifecycle_as_of: asOf,
  lifecycle_received_at: asOf,
  lifecycle_applied: appliedKeys,
  participants_as_of: asOf,
  participants_received_at: asOf,
  participants_applied: appliedKeys,
  /**
   * After a reconciliation read showed newer values: the time of the lifecycle step `status` shows, and the
   * bodies applied at that time (shared/contract/ordering.ts). Bookkeeping, like the other `*_as_of`.
   */
  status_as_of: asOf,
  status_received_at: asOf,
  status_applied: appliedKeys,
  /** Write counter: one more on every change. */
  revision: z.optional(z.number()),
  /** Requests created through `POST /scheduling-requests`: `"api"`. */
  created_via: z.optional(z.string()),
  /** The recipient's link as Cronofy returned it (`primary_select_url`), without the metadata parameters. */
  select_url: z.optional(z.string()),
  dashboard_url: z.optional(z.string()),
  /** When `POST /scheduling-requests/{id}/cancel` cancelled it in Cronofy. */
  cancelled_at: z.optional(iso),
  /** When reconciliation last re-read it from Cronofy. */
  reconciled_at: z.optional(iso),
  /** Present only while the request is open (shared/contract/open-index.ts): the key of the index of open requests. */
  open_bucket: z.optional(z.string()),
  open_until: z.optional(iso),
});
export type SchedulingRequestRecord = z.infer<typeof schedulingRequestRecordSchema>;

export const conferencingSchema = z.object({
  status: z.enum(['assigned', 'failing']),
  provider_name: z.optional(z.string()),
  join_url: z.optional(z.string()),
  subtype: z.optional(z.string()),
});

export const eventRecordSchema = z.object({
  entity: z.literal('event'),
  event_id: z.string(),
  tenant_id: tenantId,
  conferencing: z.optional(conferencingSchema),
  start: z.optional(eventTimeSchema),
  end: z.optional(eventTimeSchema),
  summary: z.optional(z.string()),
  triggered_at: z.optional(iso),
  updated_at: iso,
  conferencing_as_of: asOf,
  conferencing_received_at: asOf,
  conferencing_applied: appliedKeys,
  /** Write counter: one more on every change. */
  revision: z.optional(z.number()),
});
export type EventRecord = z.infer<typeof eventRecordSchema>;

export const eventTriggerRecordSchema = z.object({
  entity: z.literal('event_trigger'),
  event_id: z.string(),
  tenant_id: tenantId,
  /** The transition as Cronofy sent it, e.g. `{ "before": "event_start", "offset": { "minutes": 5 } }`. */
  transition: z.record(z.string(), z.unknown()),
  notification_id: z.string(),
  received_at: iso,
  /** When the trigger was due (event time ± offset), when the event's times allow computing it. */
  target_time: z.optional(iso),
  /** received_at − target_time, in seconds (negative when delivered early inside Cronofy's window). */
  delay_seconds: z.optional(z.number()),
  summary: z.optional(z.string()),
});
export type EventTriggerRecord = z.infer<typeof eventTriggerRecordSchema>;

export const notificationRecordSchema = z.object({
  entity: z.literal('notification'),
  notification_id: z.string(),
  /** The tenant URL's it arrived at; at the shared URL, the tenant of the record it updated, if any. */
  tenant_id: tenantId,
  /**
   * Only for a notification that arrived at a tenant URL: which secret verified its signature, `application`
   * (one of the application's) or `tenant` (only one of the tenant's own).
   */
  signed_by: z.optional(z.enum(['application', 'tenant'])),
  type: z.nullable(z.string()),
  status: z.enum(NOTIFICATION_STATUSES),
  received_at: iso,
  triggered_at: z.optional(iso),
  /**
   * The raw body, verbatim. When it was not valid UTF-8, its base64 form and `body_encoding: "base64"`.
   * Stored compressed, as the binary attribute `body_deflate_v1` (./body-codec.ts): `parseStreamImage` gives
   * back this form. Items written before that hold `body` and `body_encoding` as they are here.
   */
  body: z.string(),
  body_encoding: z.enum(['utf8', 'base64']),
  /** The `Cronofy-Notification-ID` header of the first delivery seen, when one was sent (tracing only). */
  cronofy_notification_id: z.optional(z.string()),
  /** Epoch seconds when DynamoDB's TTL removes the record (absent: kept forever). */
  expires_at: z.optional(z.number()),
  scheduling_request_id: z.optional(z.string()),
  event_id: z.optional(z.string()),
  /**
   * Why a notification is `unparseable` or `rejected` (`tenant_mismatch`); on an applied one, what of it was not
   * taken as sent (a `triggered_at` that is no ISO 8601 instant, map keys named `__proto__`).
   */
  reason: z.optional(z.string()),
  processed_at: iso,
});
export type NotificationRecord = z.infer<typeof notificationRecordSchema>;

export const redirectRecordSchema = z.object({
  entity: z.literal('redirect'),
  step: z.string(),
  tenant_id: tenantId,
  scheduling_request_id: z.optional(z.string()),
  correlation_id: z.optional(z.string()),
  utm_source: z.optional(z.string()),
  utm_medium: z.optional(z.string()),
  utm_campaign: z.optional(z.string()),
  utm_term: z.optional(z.string()),
  utm_content: z.optional(z.string()),
  at: iso,
});
export type RedirectRecord = z.infer<typeof redirectRecordSchema>;

/**
 * The first answer to a `POST /scheduling-requests` with an `Idempotency-Key` (bookkeeping of the API; downstream
 * readers can skip it). Removed by the table's TTL (`expires_at`) a day after the first request.
 */
export const idempotencyRecordSchema = z.object({
  entity: z.literal('idempotency'),
  /** `in_progress` (the first request is running), `created` (Cronofy created the request), `completed`. */
  status: z.enum(['in_progress', 'created', 'completed']),
  created_at: iso,
  expires_at: z.number(),
  scheduling_request_id: z.optional(z.string()),
});
export type IdempotencyRecord = z.infer<typeof idempotencyRecordSchema>;

export const recordSchema = z.discriminatedUnion('entity', [
  schedulingRequestRecordSchema,
  eventRecordSchema,
  eventTriggerRecordSchema,
  notificationRecordSchema,
  redirectRecordSchema,
  idempotencyRecordSchema,
]);
export type TableRecord = z.infer<typeof recordSchema>;

/** The records of the downstream contract: every item but the API's internal bookkeeping (`idempotency`). */
export const downstreamRecordSchema = z.discriminatedUnion('entity', [
  schedulingRequestRecordSchema,
  eventRecordSchema,
  eventTriggerRecordSchema,
  notificationRecordSchema,
  redirectRecordSchema,
]);
export type DownstreamRecord = z.infer<typeof downstreamRecordSchema>;
export type Entity = TableRecord['entity'];

export { keys, METADATA_KEYS } from './keys.ts';

/**
 * A DynamoDB attribute value (DynamoDB JSON), as a stream image or the SDK's `AttributeValue` has it; declared
 * here so that a consumer of the contract needs no AWS SDK.
 */
export type AttributeValue =
  | { S: string }
  | { N: string }
  | { B: Uint8Array }
  | { BOOL: boolean }
  | { NULL: true }
  | { L: AttributeValue[] }
  | { M: Record<string, AttributeValue> }
  | { SS: string[] }
  | { NS: string[] }
  | { BS: Uint8Array[] };

function nativeNumber(text: string): number | bigint {
  const value = Number(text);
  const largeFinite =
    (value > Number.MAX_SAFE_INTEGER || value < Number.MIN_SAFE_INTEGER) &&
    value !== Number.POSITIVE_INFINITY &&
    value !== Number.NEGATIVE_INFINITY;
  if (!largeFinite) return value;
  try {
    return BigInt(text);
  } catch {
    throw new Error(`${text} can't be converted to BigInt. Set options.wrapNumbers to get string value.`);
  }
}

/** One attribute value as a plain value, as `unmarshall` of @aws-sdk/util-dynamodb converts it (default options). */
export function fromAttributeValue(attribute: unknown): unknown {
  for (const [type, value] of Object.entries(attribute as Record<string, unknown>)) {
    if (value === undefined) continue;
    switch (type) {
      case 'NULL':
        return null;
      case 'BOOL':
        return Boolean(value);
      case 'N':
        return nativeNumber(value as string);
      case 'B':
      case 'S':
        return value;
      case 'L':
        return (value as unknown[]).map(fromAttributeValue);
      case 'M':
        return fromAttributeMap(value as Record<string, unknown>);
      case 'NS':
        return new Set((value as string[]).map(nativeNumber));
      case 'BS':
      case 'SS':
        return new Set(value as unknown[]);
      default:
        throw new Error(`Unsupported type passed: ${type}`);
    }
  }
  throw new Error(`No value defined: ${JSON.stringify(attribute)}`);
}

/**
 * An item (a stream image) in DynamoDB JSON as a plain object. Each attribute is defined as an own property: an
 * attribute named `__proto__` (JSON.parse keeps it as an own key) assigned would become the object's prototype,
 * and its fields would read as the item's own.
 */
export function fromAttributeMap(item: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item))
    Object.defineProperty(out, key, {
      value: fromAttributeValue(value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return out;
}

/**
 * Parse a DynamoDB stream image (or any item in DynamoDB JSON) into a typed record: `undefined` for anything that
 * is not one of the records above (internal bookkeeping items, an entity added later, a malformed item, a value
 * that is not an image at all, a body that does not decompress). Never throws, so a consumer can skip what it does not know without naming it.
 */
export function parseStreamImage(
  image: Record<string, AttributeValue> | Record<string, unknown> | undefined,
): DownstreamRecord | undefined {
  if (typeof image !== 'object' || image === null || Array.isArray(image)) return undefined;
  let plain: Record<string, unknown>;
  try {
    // A notification's compressed body comes back as the raw body (`body`, `body_encoding`).
    plain = withContractBody(fromAttributeMap(image));
  } catch {
    return undefined;
  }
  const parsed = downstreamRecordSchema.safeParse(plain);
  return parsed.success ? parsed.data : undefined;
}
