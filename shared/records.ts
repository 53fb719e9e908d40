import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { z } from 'zod';
import { eventTimeSchema, participantSchema } from './cronofy/schemas.ts';

/**
 * The downstream contract: the items on the table (and so on its stream). Every item has a string `entity`.
 * Downstream consumers parse a stream image with `parseStreamImage(record.dynamodb.NewImage)`.
 * Unknown fields are ignored (not rejected), so a consumer built today keeps working when fields are added.
 */

export const SCHEDULING_REQUEST_STATUSES = [
  'time_chosen',
  'rescheduled',
  'declined',
  'no_times_available',
  'more_times_requested',
  'event_started',
  'event_ended',
] as const;

export const NOTIFICATION_STATUSES = ['applied', 'stale', 'unparseable', 'unknown_type'] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

export const METADATA_KEYS = [
  'correlation_id',
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_term',
  'utm_content',
] as const;

const iso = z.string();

export const schedulingRequestRecordSchema = z.object({
  entity: z.literal('scheduling_request'),
  scheduling_request_id: z.string(),
  /** The last lifecycle step applied. Absent while only participant status changes have arrived. */
  status: z.enum(SCHEDULING_REQUEST_STATUSES).optional(),
  correlation_id: z.string().optional(),
  /** `event.metadata.scheduler`, `captured_data.*` keys included. */
  metadata: z.record(z.string(), z.unknown()).optional(),
  event: z
    .looseObject({
      start: eventTimeSchema.optional(),
      end: eventTimeSchema.optional(),
      summary: z.string().optional(),
      host: participantSchema.optional(),
      attendees: z.array(participantSchema).optional(),
    })
    .optional(),
  recipient_tzid: z.string().optional(),
  last_notification_type: z.string(),
  last_notification_id: z.string(),
  /** `notification.triggered_at` of the newest notification applied, normalised to UTC ISO 8601. */
  triggered_at: iso.optional(),
  updated_at: iso,
  /** Idempotency keys of every notification applied to this record (the exactly-once marker). */
  applied_notifications: z.array(z.string()),
});
export type SchedulingRequestRecord = z.infer<typeof schedulingRequestRecordSchema>;

export const conferencingSchema = z.object({
  status: z.enum(['assigned', 'failing']),
  provider_name: z.string().optional(),
  join_url: z.string().optional(),
  subtype: z.string().optional(),
});

export const eventRecordSchema = z.object({
  entity: z.literal('event'),
  event_id: z.string(),
  conferencing: conferencingSchema.optional(),
  start: eventTimeSchema.optional(),
  end: eventTimeSchema.optional(),
  summary: z.string().optional(),
  last_notification_id: z.string(),
  triggered_at: iso.optional(),
  updated_at: iso,
  applied_notifications: z.array(z.string()),
});
export type EventRecord = z.infer<typeof eventRecordSchema>;

export const eventTriggerRecordSchema = z.object({
  entity: z.literal('event_trigger'),
  event_id: z.string(),
  /** The transition as Cronofy sent it, e.g. `{ "before": "event_start", "offset": { "minutes": 5 } }`. */
  transition: z.record(z.string(), z.unknown()),
  notification_id: z.string(),
  received_at: iso,
  /** When the trigger was due (event time ± offset), when the event's times allow computing it. */
  target_time: iso.optional(),
  /** received_at − target_time, in seconds (negative when delivered early inside Cronofy's window). */
  delay_seconds: z.number().optional(),
  summary: z.string().optional(),
});
export type EventTriggerRecord = z.infer<typeof eventTriggerRecordSchema>;

export const notificationRecordSchema = z.object({
  entity: z.literal('notification'),
  notification_id: z.string(),
  type: z.string().nullable(),
  status: z.enum(NOTIFICATION_STATUSES),
  received_at: iso,
  triggered_at: iso.optional(),
  /** The raw body, verbatim. When it was not valid UTF-8, its base64 form and `body_encoding: "base64"`. */
  body: z.string(),
  body_encoding: z.enum(['utf8', 'base64']),
  scheduling_request_id: z.string().optional(),
  event_id: z.string().optional(),
  /** Why a notification is `unparseable` (never contains payload values). */
  reason: z.string().optional(),
  processed_at: iso,
});
export type NotificationRecord = z.infer<typeof notificationRecordSchema>;

export const redirectRecordSchema = z.object({
  entity: z.literal('redirect'),
  step: z.string(),
  scheduling_request_id: z.string().optional(),
  correlation_id: z.string().optional(),
  utm_source: z.string().optional(),
  utm_medium: z.string().optional(),
  utm_campaign: z.string().optional(),
  utm_term: z.string().optional(),
  utm_content: z.string().optional(),
  at: iso,
});
export type RedirectRecord = z.infer<typeof redirectRecordSchema>;

export const recordSchema = z.discriminatedUnion('entity', [
  schedulingRequestRecordSchema,
  eventRecordSchema,
  eventTriggerRecordSchema,
  notificationRecordSchema,
  redirectRecordSchema,
]);
export type TableRecord = z.infer<typeof recordSchema>;
export type Entity = TableRecord['entity'];

/** Partition key of each item; downstream readers never need it, but tools do. */
export const keys = {
  schedulingRequest: (id: string) => `scheduling_request#${id}`,
  event: (id: string) => `event#${id}`,
  eventTrigger: (notificationId: string, index: number) => `event_trigger#${notificationId}#${index}`,
  notification: (notificationId: string) => `notification#${notificationId}`,
  redirect: (id: string) => `redirect#${id}`,
} as const;

/**
 * Parse a DynamoDB stream image (or any item in DynamoDB JSON) into a typed record.
 * Throws a ZodError for an item that is not one of ours.
 */
export function parseStreamImage(image: Record<string, AttributeValue> | Record<string, unknown>): TableRecord {
  return recordSchema.parse(unmarshall(image as Record<string, AttributeValue>));
}
