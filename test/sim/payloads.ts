import type { SchedulingRequestType } from '#shared/notifications/cronofy-schemas.ts';
import { fixture } from '../support/cronofy-payloads.ts';

/**
 * Full-size Cronofy bodies for the simulator, shaped like the examples in Cronofy's documentation: Scheduler
 * Workflow / Embedded Scheduler callbacks with `triggered_at`, metadata and captured data; conferencing
 * interactions; Event Trigger callbacks. test/support/cronofy-payloads.ts keeps the small builders unit
 * tests use; these carry the state a lifecycle evolves (statuses, times, metadata) so steps stay coherent.
 */

export interface Person {
  email: string;
  display_name: string;
  sub?: string;
}

export type ParticipantStatus = 'accepted' | 'declined' | 'tentative' | 'needs_action';

/** What Cronofy knows about one Scheduling Request at the time of a notification. */
export interface SchedulingRequestState {
  id: string;
  /** Short link id, as in `https://app.cronofy.com/rts/{slug}`. */
  slug: string;
  summary: string;
  tzid: string;
  durationMinutes: number;
  candidate: Person;
  host: Person;
  panel: Person;
  statuses: { host: ParticipantStatus; candidate: ParticipantStatus; panel: ParticipantStatus };
  /** `event.metadata.scheduler`: correlation id, UTM fields and `captured_data.*`. */
  metadata: Record<string, string>;
  /** The booked slot, once a time was chosen. */
  start?: Date;
}

/** ISO 8601 at one-second resolution, as Cronofy sends `triggered_at` and event times. */
export const isoSeconds = (date: Date): string => `${date.toISOString().slice(0, 19)}Z`;

/** Types sent when the recipient interacts with the link directly: these carry `user.tzid`. */
const LINK_TYPES: readonly SchedulingRequestType[] = [
  'scheduling_request_time_chosen',
  'scheduling_request_rescheduled',
  'scheduling_request_declined',
  'scheduling_request_no_times_available',
  'scheduling_request_more_times_requested',
];

/** `recipient_operations` only lists what is possible in the request's current state (Cronofy's documentation). */
function recipientOperations(type: string, slug: string): Record<string, string> {
  const view = `https://app.cronofy.com/rts/${slug}`;
  if (type === 'scheduling_request_declined' || type === 'event_end') return { view_url: view };
  if (
    type === 'scheduling_request_no_times_available' ||
    type === 'scheduling_request_more_times_requested'
  ) {
    return { view_url: view, decline_url: `${view}?decline=true` };
  }
  return { view_url: view, decline_url: `${view}?decline=true`, reschedule_url: `${view}?reschedule=true` };
}

export function schedulingRequestPayload(
  type: SchedulingRequestType | string,
  state: SchedulingRequestState,
  triggeredAt: Date | undefined,
  options: { changedParticipants?: string[] } = {},
): Record<string, unknown> {
  const view = `https://app.cronofy.com/rts/${state.slug}`;
  const start = state.start;
  const event =
    start === undefined
      ? undefined
      : {
          host: { ...state.host, status: state.statuses.host },
          attendees: [
            { ...state.candidate, status: state.statuses.candidate },
            { ...state.panel, status: state.statuses.panel },
          ],
          start: { time: isoSeconds(start), tzid: 'Europe/London' },
          end: {
            time: isoSeconds(new Date(start.getTime() + state.durationMinutes * 60_000)),
            tzid: 'Europe/London',
          },
          summary: state.summary,
          metadata: { scheduler: { ...state.metadata } },
        };
  return {
    notification: { type, ...(triggeredAt ? { triggered_at: isoSeconds(triggeredAt) } : {}) },
    ...((LINK_TYPES as readonly string[]).includes(type) ? { user: { tzid: state.tzid } } : {}),
    ...(options.changedParticipants
      ? {
          notification_context: {
            changed_participants: options.changedParticipants.map((email) => ({ email })),
          },
        }
      : {}),
    scheduling_request: {
      scheduling_request_id: state.id,
      slot_selection: start === undefined ? 'pending' : 'complete',
      primary_select_url: view,
      dashboard_url: `https://app.cronofy.com/scheduler/requests/${state.id.replace(/^srq_/, '')}`,
      summary: state.summary,
      duration: { minutes: state.durationMinutes },
      buffer: { before: { minutes: 10 }, after: { minutes: 5 } },
      recipient_operations: recipientOperations(type, state.slug),
      recipients: [{ ...state.candidate, slot_selector: true, select_url: view }],
      collaborators: [{ sub: state.panel.sub }],
      ...(event ? { event } : {}),
    },
  };
}

export interface EventState {
  eventId: string;
  summary: string;
  description: string;
  start: Date;
  end: Date;
}

function eventFields(event: EventState): Record<string, unknown> {
  return {
    event_id: event.eventId,
    summary: event.summary,
    description: event.description,
    start: isoSeconds(event.start),
    end: isoSeconds(event.end),
  };
}

/**
 * A conferencing interaction callback (https://docs.cronofy.com/developers/api/conferencing-services/). No `triggered_at` there;
 * `options.triggeredAt` adds one (the schema allows it on every notification), to exercise both orderings.
 */
export function conferencingPayload(
  interaction: 'conferencing_assigned' | 'conferencing_failing',
  event: EventState,
  options: { subtype?: string; provider?: string; joinUrl?: string; triggeredAt?: Date } = {},
): Record<string, unknown> {
  return {
    notification: {
      type: 'event_subscription',
      ...(options.triggeredAt ? { triggered_at: isoSeconds(options.triggeredAt) } : {}),
      interactions: [{ type: interaction, ...(options.subtype ? { subtype: options.subtype } : {}) }],
    },
    event: {
      ...eventFields(event),
      conferencing:
        interaction === 'conferencing_assigned'
          ? { provider_name: options.provider ?? 'zoom', join_url: options.joinUrl ?? 'https://zoom.us/j/0' }
          : { pending: true },
    },
  };
}

export type Transition = { before: 'event_start' | 'event_end' } | { after: 'event_start' | 'event_end' };
export type TransitionWithOffset = Transition & { offset: { minutes?: number; hours?: number } };

/**
 * An Event Trigger callback (https://docs.cronofy.com/developers/api/events/event-triggers/). The transition that fired is sent under
 * `notification.transitions[]` or `notification.transition`: both forms are exercised.
 */
export function eventTriggerPayload(
  transition: TransitionWithOffset,
  event: EventState,
  form: 'array' | 'single',
  triggeredAt?: Date,
): Record<string, unknown> {
  const header = {
    type: 'event_subscription',
    ...(triggeredAt ? { triggered_at: isoSeconds(triggeredAt) } : {}),
  };
  return {
    notification: form === 'single' ? { ...header, transition } : { ...header, transitions: [transition] },
    event: eventFields(event),
  };
}

/** When a transition is due: event start or end, plus or minus the offset. */
export function transitionTarget(transition: TransitionWithOffset, event: EventState): Date {
  const before = 'before' in transition;
  const anchor = before ? transition.before : transition.after;
  const base = anchor === 'event_start' ? event.start : event.end;
  const offsetMs = ((transition.offset.hours ?? 0) * 60 + (transition.offset.minutes ?? 0)) * 60_000;
  return new Date(base.getTime() + (before ? -offsetMs : offsetMs));
}

/**
 * The seed's `event_participant_status_changed` example is not valid JSON (trailing commas). Cronofy signs
 * whatever it sends, so such a body must be kept: this returns the documentation's example text with a fresh request id.
 */
export function seedParticipantStatusChangedText(schedulingRequestId: string): string {
  return fixture('seed-participant-status-changed.txt').replace(/srq_[0-9a-f]+/g, schedulingRequestId);
}
