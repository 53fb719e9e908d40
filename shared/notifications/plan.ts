import { normaliseInstant, parseInstant, storedTime } from '../contract/instant.ts';
import { keys, sha256Hex } from '../contract/keys.ts';
import { openIndexChange } from '../contract/open-index.ts';
import {
  type AspectWrite,
  CANCELLED_AT,
  LAST_NOTIFICATION_TYPE,
  type StateWrite,
} from '../contract/ordering.ts';
import type { EventTriggerRecord, NotificationRecord } from '../contract/records.ts';
import { protoKeyCount, storable, storableText } from '../contract/storable.ts';
import {
  type Classified,
  classify,
  EVENT_SUBSCRIPTION_TYPE,
  type EventSubscriptionNotification,
  type EventTime,
  SCHEDULING_REQUEST_TYPES,
  type SchedulingRequestNotification,
  type SchedulingRequestType,
  type Transition,
} from './cronofy-schemas.ts';
import type { Envelope } from './queue-message.ts';

/**
 * Pure planning: what a notification should change on the table. No I/O; the worker executes the plan.
 * Every value taken from the body passes through `storable` (shared/contract/storable.ts).
 */

export interface TriggerWrite {
  pk: string;
  record: EventTriggerRecord;
}

export interface Plan {
  /** The notification record, minus the status that only executing the plan can decide. */
  notification: Omit<NotificationRecord, 'status' | 'processed_at'>;
  /** Final status when nothing needs applying (unparseable, unknown type). */
  status?: 'unparseable' | 'unknown_type';
  stateWrites: StateWrite[];
  triggerWrites: TriggerWrite[];
  /** The partition this notification's state lives in: notifications for one key are applied in order. */
  orderingKey: string;
  /** Safe to log: identifiers only, no payload values. */
  logFields: Record<string, unknown>;
}

export interface PlanOptions {
  /** Days a notification record is kept (`expires_at`); 0 keeps it forever. */
  retentionDays: number;
}

const STATUS_BY_TYPE: Partial<Record<SchedulingRequestType, string>> = {
  scheduling_request_time_chosen: 'time_chosen',
  scheduling_request_rescheduled: 'rescheduled',
  scheduling_request_declined: 'declined',
  scheduling_request_no_times_available: 'no_times_available',
  scheduling_request_more_times_requested: 'more_times_requested',
  event_start: 'event_started',
  event_end: 'event_ended',
};

/**
 * `notification.triggered_at` as stored, when it is a real ISO 8601 instant (shared/contract/instant.ts); anything
 * else (a date that does not exist, `"1"`, a number, no zone) is treated as absent: the step still applies,
 * ordered by its receipt time, and the notification record says so in `reason`.
 */
export const normaliseTime = (value: unknown): string | undefined => normaliseInstant(value);

const IGNORED_TRIGGERED_AT = 'notification.triggered_at is not an ISO 8601 instant: ordered by receipt time';

const NO_PARTICIPANTS =
  'event_participant_status_changed without event.host or event.attendees: nothing to apply';

/** The note for a `triggered_at` that was sent but is not an instant, if any. */
const triggeredAtNote = (sent: unknown, triggeredAt: string | undefined) =>
  sent !== undefined && triggeredAt === undefined ? IGNORED_TRIGGERED_AT : undefined;

/**
 * How far after its receipt a `triggered_at` is still taken as the step's time (a sender's clock running ahead).
 * Beyond it the time is not credible, and taken, it would outrank every later step of the aspect for good: the
 * step is ordered by its receipt time instead, and its record says so.
 */
const MAX_TRIGGERED_AFTER_RECEIPT_MS = 86_400_000;
const FUTURE_TRIGGERED_AT =
  'notification.triggered_at is more than a day after its receipt: ordered by receipt time';
const credibleTime = (triggeredAt: string | undefined, receivedAt: string) =>
  triggeredAt !== undefined &&
  Date.parse(triggeredAt) - Date.parse(receivedAt) > MAX_TRIGGERED_AFTER_RECEIPT_MS
    ? undefined
    : triggeredAt;

/** Longest id or type kept as it is on a notification record; longer ones are kept as their digest. */
const MAX_RECORD_TEXT = 1024;
const recordText = (value: string) => storableText(value, MAX_RECORD_TEXT, sha256Hex);

function withoutUndefined(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) out[name] = storable(value);
  return out;
}

const isKnownType = (type: string | null) =>
  type === EVENT_SUBSCRIPTION_TYPE || (SCHEDULING_REQUEST_TYPES as readonly (string | null)[]).includes(type);

/** A write's time: `triggered_at`, else the receipt time, weak evidence (shared/contract/ordering.ts). */
const ordering = (envelope: Envelope, triggeredAt: string | undefined) =>
  triggeredAt === undefined
    ? { at: envelope.receivedAt, receiptTime: true }
    : { at: triggeredAt, triggeredAt };

const nonEmpty = (fields: Record<string, unknown>) => (Object.keys(fields).length > 0 ? fields : undefined);

/**
 * What a state write knows of the notification's tenant: the tenant URL's, and whether only that tenant's own
 * secret signed it (then it may change only that tenant's records). At the shared URL: nothing; the record's
 * own tenant, if any, is the notification's.
 */
function tenancy(envelope: Envelope): Pick<StateWrite, 'tenantId' | 'tenantOnly'> {
  if (envelope.tenantId === undefined) return {};
  return { tenantId: envelope.tenantId, ...(envelope.signedBy === 'tenant' ? { tenantOnly: true } : {}) };
}

function planSchedulingRequest(
  payload: SchedulingRequestNotification,
  type: SchedulingRequestType,
  envelope: Envelope,
  now: string,
  triggeredAt: string | undefined,
): StateWrite {
  const request = payload.scheduling_request;
  const id = request.scheduling_request_id;
  const event = request.event;
  const participants: AspectWrite = {
    aspect: 'participants',
    set: {},
    event: nonEmpty(withoutUndefined({ host: event?.host, attendees: event?.attendees })),
  };
  const aspects: AspectWrite[] = [];
  if (type === 'event_participant_status_changed') {
    // Participant statuses change; the lifecycle does not. Without a host or attendees it carries no aspect: its
    // time would be the participants' while the record showed an older notification's (see planNotification).
    if (participants.event) aspects.push(participants);
  } else {
    const scheduler = event?.metadata?.scheduler;
    const correlationId = scheduler?.correlation_id;
    const status = STATUS_BY_TYPE[type];
    // Open requests are in the index reconciliation reads; the step that closes one takes it out.
    const index = openIndexChange(status, event?.end);
    aspects.push({
      aspect: 'lifecycle',
      set: withoutUndefined({
        status,
        // The notification whose step `status` shows (a participants-only notification shows none).
        [LAST_NOTIFICATION_TYPE]: type,
        metadata: scheduler,
        correlation_id: typeof correlationId === 'string' ? correlationId : undefined,
        recipient_tzid: payload.user?.tzid,
        ...index.set,
      }),
      event: nonEmpty(withoutUndefined({ start: event?.start, end: event?.end, summary: event?.summary })),
      // A step after a cancel (newer than it) ends it: the cancel's time goes with its status. The correlation id
      // is the metadata's: metadata sent without one shows none.
      remove: [
        CANCELLED_AT,
        ...(scheduler !== undefined && typeof correlationId !== 'string' ? ['correlation_id'] : []),
        ...(index.remove ?? []),
      ],
    });
    // A lifecycle step that lists the participants (a reschedule does) updates them too, if not older.
    if (participants.event) aspects.push(participants);
  }
  return {
    pk: keys.schedulingRequest(id),
    ...tenancy(envelope),
    key: envelope.key,
    ...ordering(envelope, triggeredAt),
    common: { entity: 'scheduling_request', scheduling_request_id: storable(id), updated_at: now },
    aspects,
    likelyNew: type === 'scheduling_request_time_chosen',
  };
}

function eventTimeText(time: EventTime | undefined): string | undefined {
  return typeof time === 'string' ? time : time?.time;
}

function eventTimeToMs(time: EventTime | undefined): number | undefined {
  // Only an instant: a date without a time (all-day event), or a local time without its zone, has no instant to
  // measure a trigger against, and a lenient reading would key the trigger by a time that was never sent.
  const text = eventTimeText(time);
  return text === undefined ? undefined : parseInstant(text);
}

interface TransitionParts {
  before: boolean;
  anchor: 'event_start' | 'event_end';
  /** Undefined when the offset is not finite numbers (digits exact-json kept, a string): no target. */
  offsetMinutes: number | undefined;
  /** The transition's identity in its record's key. */
  canonical: string;
}

function transitionParts(transition: Transition): TransitionParts {
  const before = 'before' in transition;
  const anchor = ('before' in transition ? transition.before : transition.after) as TransitionParts['anchor'];
  const offset = transition.offset ?? {};
  const [hours, minutes] = [offset.hours ?? 0, offset.minutes ?? 0];
  const total = typeof hours === 'number' && typeof minutes === 'number' ? hours * 60 + minutes : undefined;
  const offsetMinutes = total !== undefined && Number.isFinite(total) ? total : undefined;
  // An offset that is not finite numbers (exact-json keeps 1e308 as its digits) keeps the notification (its
  // other parts apply) and its own identity: the offset as sent (JSON.stringify escapes lone surrogates, so two
  // offsets never share it).
  const amount = offsetMinutes ?? `as-sent:${JSON.stringify(offset)}`;
  return { before, anchor, offsetMinutes, canonical: `${before ? 'before' : 'after'}:${anchor}:${amount}` };
}

/** When the trigger was due, when the event's times allow computing it (and the result is a real time). */
function transitionTarget(
  parts: TransitionParts,
  payload: EventSubscriptionNotification,
): string | undefined {
  const base = eventTimeToMs(parts.anchor === 'event_start' ? payload.event.start : payload.event.end);
  if (base === undefined || parts.offsetMinutes === undefined) return undefined;
  return storedTime(base + (parts.before ? -1 : 1) * parts.offsetMinutes * 60_000);
}

function planEventSubscription(
  payload: EventSubscriptionNotification,
  envelope: Envelope,
  now: string,
  triggeredAt: string | undefined,
): { stateWrites: StateWrite[]; triggerWrites: TriggerWrite[] } {
  const { event, notification } = payload;
  const stateWrites: StateWrite[] = [];
  const triggerWrites: TriggerWrite[] = [];

  const interactions = (notification.interactions ?? []).filter(
    (i) => i.type === 'conferencing_assigned' || i.type === 'conferencing_failing',
  );
  const last = interactions.at(-1);
  if (last) {
    const conferencing =
      last.type === 'conferencing_assigned'
        ? withoutUndefined({
            status: 'assigned',
            provider_name: event.conferencing?.provider_name,
            join_url: event.conferencing?.join_url,
            subtype: last.subtype,
          })
        : withoutUndefined({ status: 'failing', subtype: last.subtype });
    stateWrites.push({
      pk: keys.event(event.event_id, envelope.tenantId),
      ...tenancy(envelope),
      key: envelope.key,
      ...ordering(envelope, triggeredAt),
      common: { entity: 'event', event_id: storable(event.event_id), updated_at: now },
      aspects: [
        {
          aspect: 'conferencing',
          set: withoutUndefined({ conferencing, start: event.start, end: event.end, summary: event.summary }),
        },
      ],
    });
  }

  const transitions = notification.transitions ?? (notification.transition ? [notification.transition] : []);
  const receivedMs = Date.parse(envelope.receivedAt);
  const seen = new Set<string>();
  for (const transition of transitions) {
    const parts = transitionParts(transition);
    const target = transitionTarget(parts, payload);
    const anchorAsSent = eventTimeText(parts.anchor === 'event_start' ? event.start : event.end);
    const pk = keys.eventTrigger(
      {
        eventId: event.event_id,
        transition: parts.canonical,
        target: target ?? `as-sent:${anchorAsSent ?? 'none'}`,
      },
      envelope.tenantId,
    );
    if (seen.has(pk)) continue;
    seen.add(pk);
    const record: EventTriggerRecord = {
      entity: 'event_trigger',
      event_id: storable(event.event_id) as string,
      ...(envelope.tenantId === undefined ? {} : { tenant_id: envelope.tenantId }),
      transition: storable(transition) as Record<string, unknown>,
      notification_id: envelope.key,
      received_at: envelope.receivedAt,
      ...(target === undefined
        ? {}
        : { target_time: target, delay_seconds: Math.round(receivedMs - Date.parse(target)) / 1000 }),
      ...(event.summary === undefined ? {} : { summary: storable(event.summary) as string }),
    };
    triggerWrites.push({ pk, record });
  }

  return { stateWrites, triggerWrites };
}

function decodeBody(envelope: Envelope): string | undefined {
  return envelope.encoding === 'utf8' ? envelope.body : undefined;
}

export function planNotification(
  envelope: Envelope,
  now: Date,
  options: PlanOptions,
  classified?: Classified,
): Plan {
  const result = classified ?? classify(decodeBody(envelope));
  // A tenant id is not a secret, and the URL's matched the tenant id pattern at ingest.
  const tenantLog = envelope.tenantId === undefined ? {} : { tenantId: envelope.tenantId };
  const processedAt = now.toISOString();
  const receivedMs = Date.parse(envelope.receivedAt);
  const base = {
    entity: 'notification' as const,
    notification_id: envelope.key,
    received_at: envelope.receivedAt,
    body: envelope.body,
    body_encoding: envelope.encoding,
    ...(envelope.headerId ? { cronofy_notification_id: envelope.headerId } : {}),
    // Arrived at a tenant URL: the notification record is that tenant's, keyed per tenant (`notificationKey`).
    ...(envelope.tenantId === undefined
      ? {}
      : { tenant_id: envelope.tenantId, signed_by: envelope.signedBy ?? 'application' }),
    ...(options.retentionDays > 0
      ? { expires_at: Math.floor(receivedMs / 1000) + options.retentionDays * 86_400 }
      : {}),
  };
  /**
   * A notification without `triggered_at` that changes state is ordered by its receipt time, which is later
   * on every delivery: its notification record is what recognises a replay of it, so that record is kept
   * (no `expires_at`). Everything else is safe to forget after the retention period.
   */
  const keptForReplays = (plan: Plan): Plan => {
    if (!plan.stateWrites.some((write) => write.triggeredAt === undefined)) return plan;
    const { expires_at: _expires, ...notification } = plan.notification;
    return { ...plan, notification };
  };

  if (result.outcome !== 'parsed') {
    const triggeredAt = normaliseTime(result.triggeredAt);
    const type = result.type === null ? null : recordText(result.type);
    const reasons = [
      result.outcome === 'unparseable' ? result.reason : undefined,
      triggeredAtNote(result.triggeredAt, triggeredAt),
    ].filter((reason) => reason !== undefined);
    return {
      notification: {
        ...base,
        type,
        ...(triggeredAt ? { triggered_at: triggeredAt } : {}),
        ...(reasons.length > 0 ? { reason: recordText(reasons.join('; ')) } : {}),
      },
      status: result.outcome,
      stateWrites: [],
      triggerWrites: [],
      orderingKey: keys.notification(
        envelope.key,
        envelope.signedBy === 'tenant' ? envelope.tenantId : undefined,
      ),
      // A type this worker does not know is a value of the body: it stays on the record, out of the logs.
      logFields: {
        notificationId: envelope.key,
        ...tenantLog,
        type: isKnownType(type) ? type : type === null ? null : 'other',
        outcome: result.outcome,
      },
    };
  }

  const { notification } = result;
  const sentAt = notification.payload.notification.triggered_at;
  const sentInstant = normaliseTime(sentAt);
  const triggeredAt = credibleTime(sentInstant, envelope.receivedAt);
  // What of the body the records do not show as sent, said on its record (the body itself keeps everything).
  const protoKeys = protoKeyCount(notification.payload);
  const note = [
    triggeredAtNote(sentAt, sentInstant),
    sentInstant !== triggeredAt ? FUTURE_TRIGGERED_AT : undefined,
    protoKeys > 0 ? `${protoKeys} map key(s) named __proto__ left out of the state records` : undefined,
  ]
    .filter((part) => part !== undefined)
    .join('; ');
  const common = {
    ...base,
    type: notification.type,
    ...(sentInstant ? { triggered_at: sentInstant } : {}),
    ...(note ? { reason: note } : {}),
  };

  if (notification.kind === 'scheduling_request') {
    const id = notification.payload.scheduling_request.scheduling_request_id;
    const write = planSchedulingRequest(
      notification.payload,
      notification.type,
      envelope,
      processedAt,
      triggeredAt,
    );
    const logFields = {
      notificationId: envelope.key,
      ...tenantLog,
      type: notification.type,
      schedulingRequestId: recordText(id).slice(0, 128),
    };
    if (write.aspects.length === 0)
      // A participant status change that names no participant: kept, with nothing to apply.
      return {
        notification: {
          ...common,
          scheduling_request_id: recordText(id),
          reason: [common.reason, NO_PARTICIPANTS].filter((part) => part !== undefined).join('; '),
        },
        status: 'unparseable',
        stateWrites: [],
        triggerWrites: [],
        orderingKey: write.pk,
        logFields: { ...logFields, outcome: 'unparseable' },
      };
    return keptForReplays({
      notification: { ...common, scheduling_request_id: recordText(id) },
      stateWrites: [write],
      triggerWrites: [],
      orderingKey: write.pk,
      logFields,
    });
  }

  const eventId = recordText(notification.payload.event.event_id);
  const writes = planEventSubscription(notification.payload, envelope, processedAt, triggeredAt);
  const logFields = {
    notificationId: envelope.key,
    ...tenantLog,
    type: notification.type,
    eventId: eventId.slice(0, 128),
  };
  if (writes.stateWrites.length === 0 && writes.triggerWrites.length === 0) {
    // An event subscription callback carrying neither an interaction nor a transition we know.
    return {
      notification: { ...common, event_id: eventId },
      status: 'unknown_type',
      stateWrites: [],
      triggerWrites: [],
      orderingKey: keys.event(notification.payload.event.event_id, envelope.tenantId),
      logFields: { ...logFields, outcome: 'unknown_type' },
    };
  }
  return keptForReplays({
    notification: { ...common, event_id: eventId },
    ...writes,
    orderingKey: keys.event(notification.payload.event.event_id, envelope.tenantId),
    logFields,
  });
}
