import {
  type Classified,
  classify,
  type EventSubscriptionNotification,
  type EventTime,
  type SchedulingRequestNotification,
  type SchedulingRequestType,
  type Transition,
} from '../cronofy/schemas.ts';
import { keys } from '../keys.ts';
import type { StateWrite } from '../ports.ts';
import type { EventTriggerRecord, NotificationRecord } from '../records.ts';
import type { Envelope } from './queue-message.ts';

/**
 * Pure planning: what a notification should change on the table. No I/O; the worker executes the plan.
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
  /** Safe to log: no payload values beyond identifiers. */
  logFields: Record<string, unknown>;
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

/** Normalise to UTC ISO 8601 with milliseconds so stored values compare correctly as strings. */
export function normaliseTime(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function decodeBody(envelope: Envelope): string | undefined {
  return envelope.encoding === 'utf8' ? envelope.body : undefined;
}

function withoutUndefined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
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
  const base = {
    entity: 'scheduling_request',
    scheduling_request_id: id,
    last_notification_type: type,
    updated_at: now,
  };

  if (type === 'event_participant_status_changed') {
    // Participant statuses change; the lifecycle status does not.
    const fields = withoutUndefined({ host: event?.host, attendees: event?.attendees });
    return {
      pk: keys.schedulingRequest(id),
      notificationId: envelope.key,
      triggeredAt,
      set: base,
      setNested: Object.keys(fields).length > 0 ? { attribute: 'event', fields } : undefined,
    };
  }

  const scheduler = event?.metadata?.scheduler;
  const correlationId = scheduler?.correlation_id;
  const eventFields = event
    ? withoutUndefined({
        start: event.start,
        end: event.end,
        summary: event.summary,
        host: event.host,
        attendees: event.attendees,
      })
    : undefined;
  return {
    pk: keys.schedulingRequest(id),
    notificationId: envelope.key,
    triggeredAt,
    set: withoutUndefined({
      ...base,
      status: STATUS_BY_TYPE[type],
      event: eventFields,
      metadata: scheduler,
      correlation_id: typeof correlationId === 'string' ? correlationId : undefined,
      recipient_tzid: payload.user?.tzid,
    }),
  };
}

function eventTimeToMs(time: EventTime | undefined): number | undefined {
  const text = typeof time === 'string' ? time : time?.time;
  // A date without a time (all-day event) has no instant to measure a trigger against.
  if (!text || !/T\d{2}:\d{2}/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

function transitionTarget(
  transition: Transition,
  payload: EventSubscriptionNotification,
): number | undefined {
  const direction = 'before' in transition ? -1 : 1;
  const anchor = 'before' in transition ? transition.before : transition.after;
  const base = eventTimeToMs(anchor === 'event_start' ? payload.event.start : payload.event.end);
  if (base === undefined) return undefined;
  const offset = transition.offset ?? {};
  const offsetMs = ((offset.hours ?? 0) * 60 + (offset.minutes ?? 0)) * 60_000;
  return base + direction * offsetMs;
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
      pk: keys.event(event.event_id),
      notificationId: envelope.key,
      triggeredAt,
      set: withoutUndefined({
        entity: 'event',
        event_id: event.event_id,
        conferencing,
        start: event.start,
        end: event.end,
        summary: event.summary,
        updated_at: now,
      }),
    });
  }

  const transitions = notification.transitions ?? (notification.transition ? [notification.transition] : []);
  transitions.forEach((transition, index) => {
    const target = transitionTarget(transition, payload);
    const receivedMs = Date.parse(envelope.receivedAt);
    const record: EventTriggerRecord = {
      entity: 'event_trigger',
      event_id: event.event_id,
      transition,
      notification_id: envelope.key,
      received_at: envelope.receivedAt,
      ...(target === undefined
        ? {}
        : {
            target_time: new Date(target).toISOString(),
            delay_seconds: Math.round(receivedMs - target) / 1000,
          }),
      ...(event.summary === undefined ? {} : { summary: event.summary }),
    };
    triggerWrites.push({ pk: keys.eventTrigger(envelope.key, index), record });
  });

  return { stateWrites, triggerWrites };
}

export function planNotification(envelope: Envelope, now: Date, classified?: Classified): Plan {
  const result = classified ?? classify(decodeBody(envelope));
  const processedAt = now.toISOString();
  const base = {
    entity: 'notification' as const,
    notification_id: envelope.key,
    received_at: envelope.receivedAt,
    body: envelope.body,
    body_encoding: envelope.encoding,
  };

  if (result.outcome !== 'parsed') {
    const triggeredAt = normaliseTime(result.triggeredAt);
    return {
      notification: {
        ...base,
        type: result.type,
        ...(triggeredAt ? { triggered_at: triggeredAt } : {}),
        ...(result.outcome === 'unparseable' ? { reason: result.reason } : {}),
      },
      status: result.outcome,
      stateWrites: [],
      triggerWrites: [],
      orderingKey: keys.notification(envelope.key),
      logFields: { notificationId: envelope.key, type: result.type, outcome: result.outcome },
    };
  }

  const { notification } = result;
  const triggeredAt = normaliseTime(notification.payload.notification.triggered_at);
  const common = { ...base, type: notification.type, ...(triggeredAt ? { triggered_at: triggeredAt } : {}) };

  if (notification.kind === 'scheduling_request') {
    const request = notification.payload.scheduling_request;
    const write = planSchedulingRequest(
      notification.payload,
      notification.type,
      envelope,
      processedAt,
      triggeredAt,
    );
    const correlationId = request.event?.metadata?.scheduler?.correlation_id;
    return {
      notification: { ...common, scheduling_request_id: request.scheduling_request_id },
      stateWrites: [write],
      triggerWrites: [],
      orderingKey: write.pk,
      logFields: {
        notificationId: envelope.key,
        type: notification.type,
        schedulingRequestId: request.scheduling_request_id,
        ...(typeof correlationId === 'string' ? { correlationId } : {}),
      },
    };
  }

  const eventId = notification.payload.event.event_id;
  const writes = planEventSubscription(notification.payload, envelope, processedAt, triggeredAt);
  if (writes.stateWrites.length === 0 && writes.triggerWrites.length === 0) {
    // An event subscription callback carrying neither an interaction nor a transition we know.
    return {
      notification: { ...common, event_id: eventId },
      status: 'unknown_type',
      stateWrites: [],
      triggerWrites: [],
      orderingKey: keys.event(eventId),
      logFields: { notificationId: envelope.key, type: notification.type, eventId, outcome: 'unknown_type' },
    };
  }
  return {
    notification: { ...common, event_id: eventId },
    ...writes,
    orderingKey: keys.event(eventId),
    logFields: { notificationId: envelope.key, type: notification.type, eventId },
  };
}
