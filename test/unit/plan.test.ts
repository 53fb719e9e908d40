import { describe, expect, it } from 'vitest';
import { planNotification } from '../../shared/worker/plan.ts';
import { decodeEnvelope } from '../../shared/worker/queue-message.ts';
import {
  conferencingBody,
  eventTriggerBody,
  fixture,
  schedulingRequestBody,
} from '../support/cronofy-payloads.ts';
import { queueMessage } from '../support/messages.ts';

const now = new Date('2026-11-23T10:00:05.000Z');
const plan = (body: string | Uint8Array, options: Parameters<typeof queueMessage>[1] = {}) =>
  planNotification(decodeEnvelope(queueMessage(body, options).body), now);

describe('planning a notification', () => {
  it('maps the seed time-chosen callback onto the scheduling_request record', () => {
    const result = plan(fixture('seed-time-chosen.json'));
    expect(result.status).toBeUndefined();
    expect(result.stateWrites).toHaveLength(1);
    const write = result.stateWrites[0];
    expect(write?.pk).toBe('scheduling_request#srq_d6f3f8165239d662963fc09b');
    expect(write?.set).toMatchObject({
      entity: 'scheduling_request',
      scheduling_request_id: 'srq_d6f3f8165239d662963fc09b',
      status: 'time_chosen',
      correlation_id: 'foobar',
      recipient_tzid: 'Europe/Paris',
      last_notification_type: 'scheduling_request_time_chosen',
      updated_at: '2026-11-23T10:00:05.000Z',
      metadata: { correlation_id: 'foobar', 'captured_data.notes': 'No dietary requirements.' },
      event: {
        start: { time: '2024-09-17T14:00:00Z', tzid: 'Europe/London' },
        summary: 'Driving lessons - Marty & Doc',
        host: { email: 'ihost@evenitron.com', status: 'accepted' },
      },
    });
    // Metadata lives in `metadata`, not inside `event`.
    expect((write?.set.event as Record<string, unknown> | undefined)?.metadata).toBeUndefined();
    expect(result.notification).toMatchObject({
      type: 'scheduling_request_time_chosen',
      scheduling_request_id: 'srq_d6f3f8165239d662963fc09b',
    });
  });

  it('normalises triggered_at so stored times compare as strings', () => {
    const result = plan(
      schedulingRequestBody('scheduling_request_rescheduled', { triggeredAt: '2025-01-19T17:14:11+01:00' }),
    );
    expect(result.stateWrites[0]?.triggeredAt).toBe('2025-01-19T16:14:11.000Z');
    expect(result.notification.triggered_at).toBe('2025-01-19T16:14:11.000Z');
  });

  it.each([
    ['event_start', 'event_started'],
    ['event_end', 'event_ended'],
    ['scheduling_request_declined', 'declined'],
    ['scheduling_request_no_times_available', 'no_times_available'],
    ['scheduling_request_more_times_requested', 'more_times_requested'],
  ] as const)('%s sets status %s', (type, status) => {
    expect(plan(schedulingRequestBody(type)).stateWrites[0]?.set.status).toBe(status);
  });

  it('does not clear the event when a step carries none', () => {
    const write = plan(schedulingRequestBody('scheduling_request_more_times_requested')).stateWrites[0];
    expect(write?.set).not.toHaveProperty('event');
    expect(write?.set).not.toHaveProperty('metadata');
  });

  it('participant status changes update attendees and host, never the lifecycle status', () => {
    const write = plan(
      schedulingRequestBody('event_participant_status_changed', { attendeeStatus: 'declined' }),
    ).stateWrites[0];
    expect(write?.set).not.toHaveProperty('status');
    expect(write?.set).not.toHaveProperty('event');
    expect(write?.setNested?.attribute).toBe('event');
    expect((write?.setNested?.fields.attendees as { status: string }[] | undefined)?.[0]?.status).toBe(
      'declined',
    );
    expect(write?.setNested?.fields.host).toMatchObject({ status: 'accepted' });
  });

  it('conferencing callbacks update the event record', () => {
    const assigned = plan(conferencingBody('conferencing_assigned')).stateWrites[0];
    expect(assigned?.pk).toBe('event#qTtZdczOccgaPncGJaCiLg');
    expect(assigned?.set.conferencing).toEqual({
      status: 'assigned',
      provider_name: 'zoom',
      join_url: 'https://zoom.us/00001111-222',
    });
    const failing = plan(fixture('seed-conferencing-failing.json')).stateWrites[0];
    expect(failing?.set.conferencing).toEqual({ status: 'failing', subtype: 'profile_missing' });
  });

  it('Event Triggers become event_trigger records with target time and delay', () => {
    const result = plan(
      eventTriggerBody({ before: 'event_start', offset: { hours: 1 } }, { start: '2026-11-23T11:00:00Z' }),
      {
        notificationId: 'ntf_1',
        receivedAt: new Date('2026-11-23T10:00:30.000Z'),
      },
    );
    expect(result.triggerWrites).toHaveLength(1);
    expect(result.triggerWrites[0]?.pk).toBe('event_trigger#ntf_1#0');
    expect(result.triggerWrites[0]?.record).toMatchObject({
      entity: 'event_trigger',
      event_id: 'workflow-example',
      transition: { before: 'event_start', offset: { hours: 1 } },
      received_at: '2026-11-23T10:00:30.000Z',
      target_time: '2026-11-23T10:00:00.000Z',
      delay_seconds: 30,
      notification_id: 'ntf_1',
    });
    const after = plan(
      eventTriggerBody(
        { after: 'event_end', offset: { minutes: 10 } },
        { end: '2026-11-23T09:51:00Z', form: 'single' },
      ),
      {
        receivedAt: new Date('2026-11-23T10:00:30.000Z'),
      },
    );
    expect(after.triggerWrites[0]?.record).toMatchObject({
      target_time: '2026-11-23T10:01:00.000Z',
      delay_seconds: -30,
    });
  });

  it('omits target time for all-day events', () => {
    const result = plan(
      eventTriggerBody({ before: 'event_start', offset: { minutes: 5 } }, { start: '2026-11-23' }),
    );
    expect(result.triggerWrites[0]?.record.target_time).toBeUndefined();
    expect(result.triggerWrites[0]?.record.delay_seconds).toBeUndefined();
  });

  it('keeps unparseable and unknown bodies with their reason, and the body verbatim', () => {
    const garbage = plan('{"notification":');
    expect(garbage).toMatchObject({
      status: 'unparseable',
      notification: { type: null, body: '{"notification":', body_encoding: 'utf8' },
    });
    const unknown = plan('{"notification":{"type":"brand_new","triggered_at":"2026-01-01T00:00:00Z"}}');
    expect(unknown).toMatchObject({
      status: 'unknown_type',
      notification: { type: 'brand_new', triggered_at: '2026-01-01T00:00:00.000Z' },
    });
    const binary = plan(new Uint8Array([0xff, 0xfe]));
    expect(binary).toMatchObject({
      status: 'unparseable',
      notification: { body: '//4=', body_encoding: 'base64' },
    });
  });

  it('an event_subscription with nothing we know is kept as unknown_type', () => {
    const result = plan(
      '{"notification":{"type":"event_subscription","interactions":[{"type":"teleported"}]},"event":{"event_id":"e1"}}',
    );
    expect(result).toMatchObject({ status: 'unknown_type', notification: { event_id: 'e1' } });
  });

  it('never logs payload values such as emails or names', () => {
    const result = plan(fixture('seed-time-chosen.json'));
    const logged = JSON.stringify(result.logFields);
    expect(logged).not.toMatch(/@|Marty|0118/);
    expect(result.logFields).toMatchObject({
      schedulingRequestId: 'srq_d6f3f8165239d662963fc09b',
      correlationId: 'foobar',
    });
  });
});
