import * as z from 'zod/mini';
import { eventTimeSchema, participantSchema } from '../contract/cronofy-shapes.ts';
import { isWellFormed } from '../contract/keys.ts';
import { JsonTooDeepError, parseJsonExact } from './exact-json.ts';

/**
 * Schemas of every push notification Cronofy sends to this application
 * (https://docs.cronofy.com/developers/api/push-notifications/, .../scheduler/workflows/,
 * .../api/events/event-triggers/, .../api/conferencing-services/push-notifications/). Cronofy is the sender, so parsing is tolerant: unknown fields pass through and
 * optional sections may be absent. Only what the records need is required.
 */

export const SCHEDULING_REQUEST_TYPES = [
  'scheduling_request_time_chosen',
  'scheduling_request_rescheduled',
  'scheduling_request_declined',
  'scheduling_request_no_times_available',
  'scheduling_request_more_times_requested',
  'event_participant_status_changed',
  'event_start',
  'event_end',
] as const;
export type SchedulingRequestType = (typeof SCHEDULING_REQUEST_TYPES)[number];

export const EVENT_SUBSCRIPTION_TYPE = 'event_subscription';

/**
 * `notification.triggered_at`: ISO 8601 with one-second resolution, as Cronofy sends it. Any value is accepted
 * here: one that is not a real instant is treated as absent by the plan (shared/contract/instant.ts), so the
 * notification's state change still applies, ordered by its receipt time, and its record says so.
 */
const timestamp = z.unknown();

/** Refinements rather than `z.minLength(1)`: the worker bundle then carries one kind of zod check (0.7 KB less). */
export const isNonEmpty = (text: string) => text !== '';

/**
 * An id that names a record. Text with a lone UTF-16 surrogate (JSON allows `"\ud800"`) is refused: stored as
 * well-formed text, two such ids would name one record (a body that sends one is kept as `unparseable`).
 */
const recordId = z
  .string()
  .check(
    z.refine(isNonEmpty, 'must not be empty'),
    z.refine(isWellFormed, 'must be well-formed Unicode (a lone surrogate)'),
  );

export {
  type EventTime,
  eventTimeSchema,
  type Participant,
  participantSchema,
} from '../contract/cronofy-shapes.ts';

export const schedulerEventSchema = z.looseObject({
  summary: z.optional(z.string()),
  start: z.optional(eventTimeSchema),
  end: z.optional(eventTimeSchema),
  host: z.optional(participantSchema),
  attendees: z.optional(z.array(participantSchema)),
  metadata: z.optional(
    z.looseObject({
      // Cronofy documents string values; any other JSON value (a multi-answer question's list, say) is kept
      // as sent rather than losing the notification's state change. A loose object checks what
      // `z.record(z.string(), z.unknown())` would of JSON, without the 2.7 KB of zod's record schema.
      scheduler: z.optional(z.looseObject({})),
    }),
  ),
});
export type SchedulerEvent = z.infer<typeof schedulerEventSchema>;

const notificationHeader = <T extends z.ZodMiniType>(type: T) =>
  z.looseObject({ type, triggered_at: z.optional(timestamp) });

export const schedulingRequestNotificationSchema = z.looseObject({
  notification: notificationHeader(z.enum(SCHEDULING_REQUEST_TYPES)),
  user: z.optional(z.looseObject({ tzid: z.optional(z.string()) })),
  notification_context: z.optional(
    z.looseObject({
      changed_participants: z.optional(z.array(z.looseObject({ email: z.optional(z.string()) }))),
    }),
  ),
  scheduling_request: z.looseObject({
    scheduling_request_id: recordId,
    event: z.optional(schedulerEventSchema),
  }),
});
export type SchedulingRequestNotification = z.infer<typeof schedulingRequestNotificationSchema>;

export const interactionSchema = z.looseObject({ type: z.string(), subtype: z.optional(z.string()) });

/**
 * Numbers as Cronofy sends them; anything else (a number too large for a double, kept as its digits) is taken as
 * sent rather than losing the whole notification (shared/notifications/plan.ts keys it by the offset as sent).
 */
const offsetSchema = z.looseObject({ minutes: z.optional(z.unknown()), hours: z.optional(z.unknown()) });
export const transitionSchema = z.union([
  z.looseObject({ before: z.enum(['event_start', 'event_end']), offset: z.optional(offsetSchema) }),
  z.looseObject({ after: z.enum(['event_start', 'event_end']), offset: z.optional(offsetSchema) }),
]);
export type Transition = z.infer<typeof transitionSchema>;

export const subscriptionEventSchema = z.looseObject({
  event_id: recordId,
  summary: z.optional(z.string()),
  start: z.optional(eventTimeSchema),
  end: z.optional(eventTimeSchema),
  conferencing: z.optional(
    z.looseObject({
      provider_name: z.optional(z.string()),
      join_url: z.optional(z.string()),
      pending: z.optional(z.boolean()),
    }),
  ),
});

export const eventSubscriptionNotificationSchema = z.looseObject({
  notification: z.looseObject({
    type: z.literal(EVENT_SUBSCRIPTION_TYPE),
    triggered_at: z.optional(timestamp),
    interactions: z.optional(z.array(interactionSchema)),
    // Event Trigger callbacks name the transition that fired; accept the array or the single form.
    transitions: z.optional(z.array(transitionSchema)),
    transition: z.optional(transitionSchema),
  }),
  event: subscriptionEventSchema,
});
export type EventSubscriptionNotification = z.infer<typeof eventSubscriptionNotificationSchema>;

export type ParsedNotification =
  | { kind: 'scheduling_request'; type: SchedulingRequestType; payload: SchedulingRequestNotification }
  | {
      kind: 'event_subscription';
      type: typeof EVENT_SUBSCRIPTION_TYPE;
      payload: EventSubscriptionNotification;
    };

/** What a raw body turned out to be. `type` is whatever `notification.type` said, when it said anything. */
export type Classified =
  | { outcome: 'parsed'; notification: ParsedNotification }
  | { outcome: 'unparseable'; type: string | null; reason: string; triggeredAt?: unknown }
  | { outcome: 'unknown_type'; type: string | null; triggeredAt?: unknown };

/** Just enough to name the type, and the `triggered_at` as sent (any JSON value). */
const headerOnly = z.looseObject({
  notification: z.looseObject({ type: z.optional(z.string()), triggered_at: z.optional(z.unknown()) }),
});

const MAX_JSON_DEPTH = 64;

/**
 * The body's own values once its schema accepted it. The schemas transform nothing, but zod rebuilds objects by
 * assignment, which silently drops keys named `__proto__` (JSON.parse keeps them as own properties): the plan
 * counts those on the notification record before `storable` leaves them out (shared/contract/storable.ts).
 */
const asSent = <T>(json: unknown) => json as T;

function summarise(error: { issues: readonly { path: PropertyKey[]; message: string }[] }): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ')
    .slice(0, 500);
}

/** Classify a body: a known notification, a known type whose payload we cannot read, or an unknown type. */
export function classify(body: string | undefined): Classified {
  if (body === undefined) return { outcome: 'unparseable', type: null, reason: 'body is not valid UTF-8' };
  let json: unknown;
  try {
    json = parseJsonExact(body, MAX_JSON_DEPTH);
  } catch (error) {
    const reason = error instanceof JsonTooDeepError ? error.message : 'body is not valid JSON';
    return { outcome: 'unparseable', type: null, reason };
  }
  const header = headerOnly.safeParse(json);
  if (!header.success) return { outcome: 'unparseable', type: null, reason: 'no notification.type' };
  const type = header.data.notification.type ?? null;
  const triggeredAt = header.data.notification.triggered_at;
  if (type === null) return { outcome: 'unparseable', type, reason: 'no notification.type', triggeredAt };

  if ((SCHEDULING_REQUEST_TYPES as readonly string[]).includes(type)) {
    const parsed = schedulingRequestNotificationSchema.safeParse(json);
    if (!parsed.success)
      return { outcome: 'unparseable', type, reason: summarise(parsed.error), triggeredAt };
    return {
      outcome: 'parsed',
      notification: {
        kind: 'scheduling_request',
        type: type as SchedulingRequestType,
        payload: asSent(json),
      },
    };
  }
  if (type === EVENT_SUBSCRIPTION_TYPE) {
    const parsed = eventSubscriptionNotificationSchema.safeParse(json);
    if (!parsed.success)
      return { outcome: 'unparseable', type, reason: summarise(parsed.error), triggeredAt };
    return { outcome: 'parsed', notification: { kind: 'event_subscription', type, payload: asSent(json) } };
  }
  return { outcome: 'unknown_type', type, triggeredAt };
}
