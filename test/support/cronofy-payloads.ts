import { readFileSync } from 'node:fs';
import type { SchedulingRequestType } from '#shared/notifications/cronofy-schemas.ts';

/**
 * Cronofy-shaped notification bodies for tests, the simulator and benchmarks. Cronofy's documentation (https://docs.cronofy.com/developers/); example payloads from it are in test/fixtures.
 */

export const fixture = (name: string): string =>
  readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

export interface SchedulingRequestOptions {
  schedulingRequestId?: string;
  triggeredAt?: string;
  correlationId?: string;
  start?: string;
  end?: string;
  attendeeStatus?: string;
  hostStatus?: string;
  tzid?: string;
  withEvent?: boolean;
  /** Extra `captured_data.*` entries (e.g. a long notes field to reach a realistic 3–5 KB body). */
  capturedData?: Record<string, string>;
}

export function schedulingRequestBody(
  type: SchedulingRequestType,
  options: SchedulingRequestOptions = {},
): string {
  const id = options.schedulingRequestId ?? 'srq_d6f3f8165239d662963fc09b';
  const start = options.start ?? '2026-12-01T14:00:00Z';
  const end = options.end ?? '2026-12-01T14:30:00Z';
  const withEvent =
    options.withEvent ??
    !['scheduling_request_no_times_available', 'scheduling_request_more_times_requested'].includes(type);
  const scheduler: Record<string, string> = {
    ...(options.correlationId ? { correlation_id: options.correlationId } : {}),
    utm_source: 'ats',
    utm_medium: 'email',
    'captured_data.phone_number': '0118999881999119725 3',
    ...options.capturedData,
  };
  const body = {
    notification: { type, ...(options.triggeredAt ? { triggered_at: options.triggeredAt } : {}) },
    ...(type.startsWith('scheduling_request_') ? { user: { tzid: options.tzid ?? 'Europe/Paris' } } : {}),
    ...(type === 'event_participant_status_changed'
      ? { notification_context: { changed_participants: [{ email: 'candidate@example.com' }] } }
      : {}),
    scheduling_request: {
      scheduling_request_id: id,
      slot_selection: 'complete',
      primary_select_url: 'https://app.cronofy.com/rts/suDzyKHW',
      summary: 'Interview - Candidate & Hiring team',
      duration: { minutes: 30 },
      recipients: [{ email: 'candidate@example.com', display_name: 'Casey Candidate', slot_selector: true }],
      ...(withEvent
        ? {
            event: {
              host: {
                email: 'host@example.com',
                display_name: 'Hana Host',
                sub: 'acc_962bfe62001ed91c7e906242',
                status: options.hostStatus ?? 'accepted',
              },
              attendees: [
                {
                  email: 'candidate@example.com',
                  display_name: 'Casey Candidate',
                  status: options.attendeeStatus ?? 'accepted',
                },
                {
                  email: 'panel@example.com',
                  display_name: 'Pat Panel',
                  sub: 'acc_7fad963a87459cefb4010b71',
                  status: 'needs_action',
                },
              ],
              start: { time: start, tzid: 'Europe/London' },
              end: { time: end, tzid: 'Europe/London' },
              summary: 'Interview - Candidate & Hiring team',
              metadata: { scheduler },
            },
          }
        : {}),
    },
  };
  return JSON.stringify(body);
}

export function conferencingBody(
  interaction: 'conferencing_assigned' | 'conferencing_failing',
  options: { eventId?: string; joinUrl?: string; triggeredAt?: string; subtype?: string } = {},
): string {
  return JSON.stringify({
    notification: {
      type: 'event_subscription',
      ...(options.triggeredAt ? { triggered_at: options.triggeredAt } : {}),
      interactions: [{ type: interaction, ...(options.subtype ? { subtype: options.subtype } : {}) }],
    },
    event: {
      event_id: options.eventId ?? 'qTtZdczOccgaPncGJaCiLg',
      summary: 'Board meeting',
      start: '2026-12-01T15:30:00Z',
      end: '2026-12-01T17:00:00Z',
      ...(interaction === 'conferencing_assigned'
        ? {
            conferencing: {
              provider_name: 'zoom',
              join_url: options.joinUrl ?? 'https://zoom.us/00001111-222',
            },
          }
        : {}),
    },
  });
}

export function eventTriggerBody(
  transition: Record<string, unknown>,
  options: { eventId?: string; start?: string; end?: string; form?: 'array' | 'single' } = {},
): string {
  const notification =
    options.form === 'single'
      ? { type: 'event_subscription', transition }
      : { type: 'event_subscription', transitions: [transition] };
  return JSON.stringify({
    notification,
    event: {
      event_id: options.eventId ?? 'workflow-example',
      summary: 'Interview',
      start: options.start ?? '2026-12-01T10:00:00Z',
      end: options.end ?? '2026-12-01T10:30:00Z',
    },
  });
}
