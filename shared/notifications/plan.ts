import { keys, sha256Hex } from '../contract/keys.ts';
import { openIndexChange } from '../contract/open-index.ts';
import type { AspectWrite, StateWrite } from '../contract/ordering.ts';
import type { EventTriggerRecord, NotificationRecord } from '../contract/records.ts';
import { storable, storableText } from '../contract/storable.ts';
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

/** Times outside years 0000–9999 would not compare correctly as strings. */
const MAX_TIME_MS = Date.parse('9999-12-31T23:59:59.999Z');
const MIN_TIME_MS = Date.parse('0000-01-01T00:00:00.000Z');

/** A date-time without a zone is read as UTC, never in the process's time zone. */
const NO_ZONE = /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;
const parseUtc = (text: string) => Date.parse(NO_ZONE.test(text) ? `${text}Z` : text);

/** Normalise to UTC ISO 8601 with milliseconds so stored times compare correctly as strings. */
export function normaliseTime(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const ms = parseUtc(value);
  return Number.isNaN(ms) || ms > MAX_TIME_MS || ms < MIN_TIME_MS ? undefined : new Date(ms).toISOString();
}

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
    // Participant statuses change; the lifecycle does not.
    aspects.push(participants);
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
        metadata: scheduler,
        correlation_id: typeof correlationId === 'string' ? correlationId : undefined,
        recipient_tzid: payload.user?.tzid,
        ...index.set,
      }),
      event: nonEmpty(withoutUndefined({ start: event?.start, end: event?.end, summary: event?.summary })),
      ...(index.remove ? { remove: index.remove } : {}),
    });
    // A lifecycle step that lists the participants (a reschedule does) updates them too, if not older.
    if (participants.event) aspects.push(participants);
  }
  return {
    pk: keys.schedulingRequest(id),
    ...tenancy(envelope),
    key: envelope.key,
    at: triggeredAt ?? envelope.receivedAt,
    ...(triggeredAt ? { triggeredAt } : {}),
    common: {
      entity: 'scheduling_request',
      scheduling_request_id: storable(id),
      last_notification_type: type,
      updated_at: now,
    },
    aspects,
    likelyNew: type === 'scheduling_request_time_chosen',
  };
}

function eventTimeText(time: EventTime | undefined): string | undefined {
  return typeof time === 'string' ? time : time?.time;
}

function eventTimeToMs(time: EventTime | undefined): number | undefined {
  const text = eventTimeText(time);
  // A date without a time (all-day event) has no instant to measure a trigger against.
  if (!text || !/T\d{2}:\d{2}/.test(text)) return undefined;
  const ms = parseUtc(text);
  return Number.isNaN(ms) ? undefined : ms;
}

interface TransitionParts {
  before: boolean;
  anchor: 'event_start' | 'event_end';
  offsetMinutes: number;
}

function transitionParts(transition: Transition): TransitionParts {
  const before = 'before' in transition;
  const anchor = ('before' in transition ? transition.before : transition.after) as TransitionParts['anchor'];
  const offset = transition.offset ?? {};
  return { before, anchor, offsetMinutes: (offset.hours ?? 0) * 60 + (offset.minutes ?? 0) };
}

/** When the trigger was due, when the event's times allow computing it (and the result is a real time). */
function transitionTarget(
  parts: TransitionParts,
  payload: EventSubscriptionNotification,
): string | undefined {
  const base = eventTimeToMs(parts.anchor === 'event_start' ? payload.event.start : payload.event.end);
  if (base === undefined || !Number.isFinite(parts.offsetMinutes)) return undefined;
  const target = base + (parts.before ? -1 : 1) * parts.offsetMinutes * 60_000;
  return normaliseTime(
    Number.isFinite(target) && Math.abs(target) <= 8.64e15 ? new Date(target).toISOString() : undefined,
  );
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
      at: triggeredAt ?? envelope.receivedAt,
      ...(triggeredAt ? { triggeredAt } : {}),
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
        transition: `${parts.before ? 'before' : 'after'}:${parts.anchor}:${parts.offsetMinutes}`,
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
    return {
      notification: {
        ...base,
        type,
        ...(triggeredAt ? { triggered_at: triggeredAt } : {}),
        ...(result.outcome === 'unparseable' ? { reason: recordText(result.reason) } : {}),
      },
      status: result.outcome,
      stateWrites: [],
      triggerWrites: [],
      orderingKey: keys.notification(envelope.key, envelope.tenantId),
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
  const triggeredAt = normaliseTime(notification.payload.notification.triggered_at);
  const common = { ...base, type: notification.type, ...(triggeredAt ? { triggered_at: triggeredAt } : {}) };

  if (notification.kind === 'scheduling_request') {
    const id = notification.payload.scheduling_request.scheduling_request_id;
    const write = planSchedulingRequest(
      notification.payload,
      notification.type,
      envelope,
      processedAt,
      triggeredAt,
    );
    return keptForReplays({
      notification: { ...common, scheduling_request_id: recordText(id) },
      stateWrites: [write],
      triggerWrites: [],
      orderingKey: write.pk,
      logFields: {
        notificationId: envelope.key,
        ...tenantLog,
        type: notification.type,
        schedulingRequestId: recordText(id).slice(0, 128),
      },
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
