import { describe, expect, it } from 'vitest';
import type { AspectName, StateWrite } from '#shared/contract/ordering.ts';
import { type Plan, planNotification } from '#shared/notifications/plan.ts';
import { decodeEnvelope } from '#shared/notifications/queue-message.ts';
import {
  conferencingBody,
  eventTriggerBody,
  fixture,
  schedulingRequestBody,
} from '../support/cronofy-payloads.ts';
import { queueMessage } from '../support/messages.ts';

const now = new Date('2026-11-23T10:00:05.000Z');
const plan = (
  body: string | Uint8Array,
  options: Parameters<typeof queueMessage>[1] = {},
  retentionDays = 90,
): Plan => planNotification(decodeEnvelope(queueMessage(body, options).body), now, { retentionDays });
const aspect = (write: StateWrite | undefined, name: AspectName) =>
  write?.aspects.find((a) => a.aspect === name);

describe('planning a notification', () => {
  it('maps the documented time-chosen callback onto the scheduling_request record', () => {
    const result = plan(fixture('seed-time-chosen.json'));
    expect(result.status).toBeUndefined();
    expect(result.stateWrites).toHaveLength(1);
    const write = result.stateWrites[0];
    expect(write?.pk).toBe('scheduling_request#srq_d6f3f8165239d662963fc09b');
    expect(write?.likelyNew).toBe(true);
    expect(write?.common).toEqual({
      entity: 'scheduling_request',
      scheduling_request_id: 'srq_d6f3f8165239d662963fc09b',
      updated_at: '2026-11-23T10:00:05.000Z',
    });
    // The type names the lifecycle step: it goes with the status, under the lifecycle's ordering.
    expect(aspect(write, 'lifecycle')?.set).toMatchObject({
      status: 'time_chosen',
      last_notification_type: 'scheduling_request_time_chosen',
      correlation_id: 'foobar',
      recipient_tzid: 'Europe/Paris',
      metadata: { correlation_id: 'foobar', 'captured_data.notes': 'No dietary requirements.' },
    });
    expect(aspect(write, 'lifecycle')?.event).toMatchObject({
      start: { time: '2024-09-17T14:00:00Z', tzid: 'Europe/London' },
      summary: 'Driving lessons - Marty & Doc',
    });
    // The host is the participants aspect's, with its own time.
    expect(aspect(write, 'participants')?.event).toMatchObject({
      host: { email: 'ihost@evenitron.com', status: 'accepted' },
    });
    // Metadata lives in `metadata`, not inside `event`.
    expect(aspect(write, 'lifecycle')?.event).not.toHaveProperty('metadata');
    expect(result.notification).toMatchObject({
      type: 'scheduling_request_time_chosen',
      scheduling_request_id: 'srq_d6f3f8165239d662963fc09b',
    });
  });

  it('normalises triggered_at so stored times compare as strings, and orders by it', () => {
    const result = plan(
      schedulingRequestBody('scheduling_request_rescheduled', { triggeredAt: '2025-01-19T17:14:11+01:00' }),
    );
    expect(result.stateWrites[0]?.triggeredAt).toBe('2025-01-19T16:14:11.000Z');
    expect(result.stateWrites[0]?.at).toBe('2025-01-19T16:14:11.000Z');
    expect(result.notification.triggered_at).toBe('2025-01-19T16:14:11.000Z');
  });

  it('orders a notification without triggered_at by its receipt time, and shows no triggered_at', () => {
    const result = plan(schedulingRequestBody('scheduling_request_rescheduled'), {
      receivedAt: new Date('2026-11-23T09:59:59.250Z'),
    });
    expect(result.stateWrites[0]?.at).toBe('2026-11-23T09:59:59.250Z');
    expect(result.stateWrites[0]?.triggeredAt).toBeUndefined();
    expect(result.notification).not.toHaveProperty('triggered_at');
  });

  it('treats a triggered_at outside years 0000–9999 as absent', () => {
    const result = plan(
      schedulingRequestBody('scheduling_request_rescheduled', { triggeredAt: '+275760-09-13T00:00:00.000Z' }),
      { receivedAt: new Date('2026-11-23T09:59:59.250Z') },
    );
    expect(result.stateWrites[0]?.at).toBe('2026-11-23T09:59:59.250Z');
  });

  it.each([
    ['a date that does not exist', '"2026-02-30T10:00:00Z"'],
    ['"1"', '"1"'],
    ['a number', '1795943400'],
    ['a time without its zone', '"2026-11-23T12:00:00"'],
    ['an hour 24', '"2026-11-23T24:00:00Z"'],
    ['an object', '{"at":"2026-11-23T12:00:00Z"}'],
  ])(
    'takes only a real ISO 8601 instant as triggered_at: %s is absent, the step applies, the record says so',
    (_, sent) => {
      const body = schedulingRequestBody('scheduling_request_rescheduled', {
        triggeredAt: '2026-11-23T12:00:00Z',
      }).replace('"triggered_at":"2026-11-23T12:00:00Z"', `"triggered_at":${sent}`);
      const result = plan(body, { receivedAt: new Date('2026-11-23T09:59:59.250Z') });
      expect(result.status).toBeUndefined();
      expect(result.stateWrites[0]).toMatchObject({ at: '2026-11-23T09:59:59.250Z', receiptTime: true });
      expect(result.stateWrites[0]?.triggeredAt).toBeUndefined();
      expect(aspect(result.stateWrites[0], 'lifecycle')?.set.status).toBe('rescheduled');
      expect(result.notification).not.toHaveProperty('triggered_at');
      expect(result.notification.reason).toContain('triggered_at is not an ISO 8601 instant');
    },
  );

  it('a triggered_at more than a day after the receipt is ordered by the receipt (it could freeze the record)', () => {
    for (const conferencing of [false, true]) {
      const sent = '9999-12-31T23:59:59Z';
      const body = conferencing
        ? conferencingBody('conferencing_assigned', { triggeredAt: sent })
        : schedulingRequestBody('scheduling_request_rescheduled', { triggeredAt: sent });
      const result = plan(body, { receivedAt: new Date('2026-11-23T09:59:59.250Z') });
      expect(result.status).toBeUndefined();
      expect(result.stateWrites[0]).toMatchObject({ at: '2026-11-23T09:59:59.250Z', receiptTime: true });
      expect(result.stateWrites[0]?.triggeredAt).toBeUndefined();
      // The record keeps what was sent, and says why it did not order the step.
      expect(result.notification.triggered_at).toBe('9999-12-31T23:59:59.000Z');
      expect(result.notification.reason).toContain('more than a day after its receipt');
    }
    // Within a day (a clock running ahead), it is the step's time.
    const skewed = plan(
      schedulingRequestBody('scheduling_request_rescheduled', { triggeredAt: '2026-11-24T09:00:00Z' }),
      {
        receivedAt: new Date('2026-11-23T09:59:59.250Z'),
      },
    );
    expect(skewed.stateWrites[0]?.triggeredAt).toBe('2026-11-24T09:00:00.000Z');
  });

  it('a real instant as triggered_at leaves no note on the record', () => {
    const result = plan(
      schedulingRequestBody('scheduling_request_rescheduled', { triggeredAt: '2024-02-29T23:59:59.5-01:30' }),
    );
    expect(result.stateWrites[0]?.triggeredAt).toBe('2024-03-01T01:29:59.500Z');
    expect(result.notification).not.toHaveProperty('reason');
  });

  it.each([
    [
      'scheduling_request_id',
      (suffix: string) =>
        schedulingRequestBody('scheduling_request_declined', { schedulingRequestId: `srq_x${suffix}` }),
    ],
    [
      'event_id',
      (suffix: string) => conferencingBody('conferencing_assigned', { eventId: `evt_x${suffix}` }),
    ],
  ])(
    'refuses a %s with a lone surrogate (kept unparseable with a reason), never merging two ids',
    (_, body) => {
      const plans = ['\ud800', '\udc00'].map((suffix) => plan(body(suffix)));
      for (const result of plans) {
        expect(result.status).toBe('unparseable');
        expect(result.stateWrites).toEqual([]);
        expect(result.notification.reason).toContain('well-formed Unicode');
      }
    },
  );

  it.each([
    ['event_start', 'event_started'],
    ['event_end', 'event_ended'],
    ['scheduling_request_declined', 'declined'],
    ['scheduling_request_no_times_available', 'no_times_available'],
    ['scheduling_request_more_times_requested', 'more_times_requested'],
  ] as const)('%s sets status %s', (type, status) => {
    expect(aspect(plan(schedulingRequestBody(type)).stateWrites[0], 'lifecycle')?.set.status).toBe(status);
  });

  it('does not clear the event when a step carries none', () => {
    const write = plan(schedulingRequestBody('scheduling_request_more_times_requested')).stateWrites[0];
    expect(aspect(write, 'lifecycle')?.event).toBeUndefined();
    expect(aspect(write, 'lifecycle')?.set).not.toHaveProperty('metadata');
    expect(aspect(write, 'participants')).toBeUndefined();
  });

  it('participant status changes update attendees and host only (the participants aspect)', () => {
    const write = plan(
      schedulingRequestBody('event_participant_status_changed', { attendeeStatus: 'declined' }),
    ).stateWrites[0];
    expect(write?.aspects.map((a) => a.aspect)).toEqual(['participants']);
    const participants = aspect(write, 'participants');
    expect((participants?.event?.attendees as { status: string }[] | undefined)?.[0]?.status).toBe(
      'declined',
    );
    expect(participants?.event?.host).toMatchObject({ status: 'accepted' });
    expect(write?.likelyNew).toBe(false);
  });

  it('a reschedule carries both aspects', () => {
    const write = plan(schedulingRequestBody('scheduling_request_rescheduled')).stateWrites[0];
    expect(write?.aspects.map((a) => a.aspect)).toEqual(['lifecycle', 'participants']);
  });

  it('conferencing callbacks update the event record (the conferencing aspect)', () => {
    const assigned = plan(conferencingBody('conferencing_assigned')).stateWrites[0];
    expect(assigned?.pk).toBe('event#qTtZdczOccgaPncGJaCiLg');
    expect(aspect(assigned, 'conferencing')?.set.conferencing).toEqual({
      status: 'assigned',
      provider_name: 'zoom',
      join_url: 'https://zoom.us/00001111-222',
    });
    const failing = plan(fixture('seed-conferencing-failing.json')).stateWrites[0];
    expect(aspect(failing, 'conferencing')?.set.conferencing).toEqual({
      status: 'failing',
      subtype: 'profile_missing',
    });
  });

  it('Event Triggers become event_trigger records keyed by event, transition and target time', () => {
    const result = plan(
      eventTriggerBody({ before: 'event_start', offset: { hours: 1 } }, { start: '2026-11-23T11:00:00Z' }),
      { notificationId: 'ntf_1', receivedAt: new Date('2026-11-23T10:00:30.000Z') },
    );
    expect(result.triggerWrites).toHaveLength(1);
    expect(result.triggerWrites[0]?.pk).toBe(
      'event_trigger#workflow-example#before:event_start:60#2026-11-23T10:00:00.000Z',
    );
    expect(result.triggerWrites[0]?.record).toMatchObject({
      entity: 'event_trigger',
      event_id: 'workflow-example',
      transition: { before: 'event_start', offset: { hours: 1 } },
      received_at: '2026-11-23T10:00:30.000Z',
      target_time: '2026-11-23T10:00:00.000Z',
      delay_seconds: 30,
      notification_id: result.notification.notification_id,
    });
    expect(result.notification.cronofy_notification_id).toBe('ntf_1');
    const after = plan(
      eventTriggerBody(
        { after: 'event_end', offset: { minutes: 10 } },
        { end: '2026-11-23T09:51:00Z', form: 'single' },
      ),
      { receivedAt: new Date('2026-11-23T10:00:30.000Z') },
    );
    expect(after.triggerWrites[0]?.record).toMatchObject({
      target_time: '2026-11-23T10:01:00.000Z',
      delay_seconds: -30,
    });
  });

  it('the same transition for the same event times is the same record, whatever the body or header', () => {
    const transition = { before: 'event_start', offset: { minutes: 60 } } as const;
    const one = plan(eventTriggerBody(transition, { start: '2026-11-23T11:00:00Z' }), {
      notificationId: 'a',
    });
    const again = plan(
      eventTriggerBody({ before: 'event_start', offset: { hours: 1 } }, { start: '2026-11-23T11:00:00Z' }),
      {
        notificationId: 'b',
        receivedAt: new Date('2026-11-23T10:00:45.000Z'),
      },
    );
    expect(again.triggerWrites[0]?.pk).toBe(one.triggerWrites[0]?.pk);
    // The event moved: a new firing.
    const moved = plan(eventTriggerBody(transition, { start: '2026-11-23T12:00:00Z' }));
    expect(moved.triggerWrites[0]?.pk).not.toBe(one.triggerWrites[0]?.pk);
  });

  it('omits target time for all-day events, and keys the record by the date as sent', () => {
    const result = plan(
      eventTriggerBody({ before: 'event_start', offset: { minutes: 5 } }, { start: '2026-11-23' }),
    );
    expect(result.triggerWrites[0]?.record.target_time).toBeUndefined();
    expect(result.triggerWrites[0]?.record.delay_seconds).toBeUndefined();
    expect(result.triggerWrites[0]?.pk).toBe(
      'event_trigger#workflow-example#before:event_start:5#as-sent:2026-11-23',
    );
  });

  it.each([
    ['a date that does not exist', '2026-02-30T10:00:00Z'],
    ['a local time without its zone', '2026-11-23T11:00:00'],
  ])('computes no target time from %s: the trigger is keyed by the time as sent', (_, start) => {
    const result = plan(eventTriggerBody({ before: 'event_start', offset: { minutes: 5 } }, { start }));
    expect(result.triggerWrites[0]?.record.target_time).toBeUndefined();
    expect(result.triggerWrites[0]?.pk).toBe(
      `event_trigger#workflow-example#before:event_start:5#as-sent:${start}`,
    );
  });

  it('an offset that is not a number keeps the notification: the conferencing applies, the trigger is keyed by the offset as sent', () => {
    const body = JSON.parse(
      conferencingBody('conferencing_assigned', { triggeredAt: '2026-11-23T12:00:00Z' }),
    );
    body.notification.transitions = [
      { before: 'event_start', offset: { minutes: null } },
      { before: 'event_start', offset: { minutes: '5' } },
      { before: 'event_start', offset: { hours: 1e308 } },
      { before: 'event_start', offset: { hours: 2e307 } },
    ];
    const result = plan(JSON.stringify(body).replace('"minutes":null', '"minutes":1e400'));
    expect(result.status).toBeUndefined();
    expect(result.stateWrites).toHaveLength(1);
    expect(result.triggerWrites.map((write) => write.pk)).toEqual([
      expect.stringContaining('before:event_start:as-sent:{"minutes":"1e400"}'),
      expect.stringContaining('before:event_start:as-sent:{"minutes":"5"}'),
      expect.stringContaining('before:event_start:as-sent:{"hours":"1e+308"}'),
      expect.stringContaining('before:event_start:as-sent:{"hours":"2e+307"}'),
    ]);
    expect(result.triggerWrites[0]?.record).not.toHaveProperty('target_time');
  });

  it('keys two triggers whose event times differ only in a lone surrogate apart', () => {
    const pks = ['\ud800', '\udc00'].map(
      (c) =>
        plan(eventTriggerBody({ before: 'event_start', offset: { minutes: 5 } }, { start: `2026-11-23${c}` }))
          .triggerWrites[0]?.pk,
    );
    expect(pks[0]).toMatch(/^event_trigger#sha256:[0-9a-f]{64}$/);
    expect(pks[1]).toMatch(/^event_trigger#sha256:[0-9a-f]{64}$/);
    expect(pks[0]).not.toBe(pks[1]);
  });

  it('an offset that leaves the calendar (1e12 minutes) gives no target time instead of a crash', () => {
    const result = plan(
      eventTriggerBody(
        { before: 'event_start', offset: { minutes: 1e12 } },
        { start: '2026-11-23T11:00:00Z' },
      ),
    );
    expect(result.status).toBeUndefined();
    expect(result.triggerWrites[0]?.record.target_time).toBeUndefined();
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

  it('never logs payload values such as emails, names or correlation ids', () => {
    const result = plan(fixture('seed-time-chosen.json'));
    const logged = JSON.stringify(result.logFields);
    expect(logged).not.toMatch(/@|Marty|0118|foobar/);
    expect(result.logFields).toMatchObject({ schedulingRequestId: 'srq_d6f3f8165239d662963fc09b' });
  });

  it('sets expires_at from the receipt time and the retention, and none when retention is 0', () => {
    const receivedAt = new Date('2026-11-23T10:00:00.000Z');
    expect(plan('{}', { receivedAt }).notification.expires_at).toBe(
      receivedAt.getTime() / 1000 + 90 * 86_400,
    );
    expect(plan('{}', { receivedAt }, 0).notification).not.toHaveProperty('expires_at');
  });
});

describe('values DynamoDB cannot hold as sent', () => {
  it('keeps a 20-digit number and 1e200 exactly, as strings', () => {
    const body = schedulingRequestBody('scheduling_request_time_chosen').replace(
      '"utm_source":"ats"',
      '"utm_source":"ats","captured_data.phone":12345678901234567890,"captured_data.big":1e200',
    );
    const metadata = aspect(plan(body).stateWrites[0], 'lifecycle')?.set.metadata as Record<string, unknown>;
    expect(metadata['captured_data.phone']).toBe('12345678901234567890');
    expect(metadata['captured_data.big']).toBe('1e200');
  });

  it('applies a metadata value that is an object or a list (a multi-answer question), kept as sent', () => {
    const body = schedulingRequestBody('scheduling_request_time_chosen').replace(
      '"utm_source":"ats"',
      '"utm_source":"ats","captured_data.rooms":["A","B"],"captured_data.contact":{"phone":"555"}',
    );
    const result = plan(body);
    expect(result.status).toBeUndefined();
    const metadata = aspect(result.stateWrites[0], 'lifecycle')?.set.metadata as Record<string, unknown>;
    expect(metadata['captured_data.rooms']).toEqual(['A', 'B']);
    expect(metadata['captured_data.contact']).toEqual({ phone: '555' });
    expect(metadata.utm_source).toBe('ats');
  });

  it('flattens nesting past DynamoDB’s depth into JSON text and drops empty attribute names', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 40; i++) deep = { d: deep };
    const body = JSON.parse(schedulingRequestBody('scheduling_request_time_chosen'));
    body.scheduling_request.event.attendees[0].extra = deep;
    body.scheduling_request.event.attendees[0][''] = 'empty name';
    const attendees = aspect(plan(JSON.stringify(body)).stateWrites[0], 'participants')?.event
      ?.attendees as Record<string, unknown>[];
    expect(Object.keys(attendees[0] ?? {})).not.toContain('');
    expect(attendees[0]?.email).toBe('candidate@example.com');
    let level: unknown = attendees[0]?.extra;
    let depth = 0;
    while (level && typeof level === 'object') {
      level = (level as { d: unknown }).d;
      depth++;
    }
    expect(depth).toBeLessThan(30);
    expect(typeof level).toBe('string');
    expect(String(level)).toContain('bottom');
  });

  it('keys a 2,100-character id by its digest and keeps the full id on the state record', () => {
    const id = `srq_${'x'.repeat(2100)}`;
    const result = plan(schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: id }));
    expect(result.stateWrites[0]?.pk).toMatch(/^scheduling_request#sha256:[0-9a-f]{64}$/);
    expect(result.stateWrites[0]?.common.scheduling_request_id).toBe(id);
    expect(result.notification.scheduling_request_id).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('replaces unpaired surrogates so the strings are valid UTF-8', () => {
    const body = schedulingRequestBody('scheduling_request_time_chosen').replace(
      '"utm_source":"ats"',
      '"utm_source":"a\\ud800b"',
    );
    const metadata = aspect(plan(body).stateWrites[0], 'lifecycle')?.set.metadata as Record<string, unknown>;
    expect(metadata.utm_source).toBe('a\ufffdb');
  });
});

describe('keys that are special to JavaScript', () => {
  it('a "__proto__" key of the metadata is left out of the state record and counted on the notification record', () => {
    const body = schedulingRequestBody('scheduling_request_time_chosen').replace(
      '"utm_source":"ats"',
      '"__proto__":"dropped","utm_source":"ats"',
    );
    const result = plan(body);
    expect(result.status).toBeUndefined();
    const metadata = aspect(result.stateWrites[0], 'lifecycle')?.set.metadata as Record<string, unknown>;
    expect(Object.keys(metadata)).toContain('utm_source');
    expect(Object.keys(metadata)).not.toContain('__proto__');
    expect(result.notification.reason).toBe('1 map key(s) named __proto__ left out of the state records');
    expect(result.notification.body).toBe(body);
  });

  it('a "__proto__" key of a participant changes no prototype, is left out and counted', () => {
    const body = JSON.parse(schedulingRequestBody('scheduling_request_time_chosen'));
    body.scheduling_request.event.attendees[0] = JSON.parse(
      '{"email":"a@example.com","__proto__":{"polluted":true},"constructor":"x"}',
    );
    const write = plan(JSON.stringify(body)).stateWrites[0];
    const attendees = (aspect(write, 'participants')?.event?.attendees ?? []) as Record<string, unknown>[];
    const attendee = attendees[0];
    expect(Object.keys(attendee ?? {})).toEqual(['email', 'constructor']);
    expect(Object.getPrototypeOf(attendee)).toBe(Object.prototype);
    expect(plan(JSON.stringify(body)).notification.reason).toContain('1 map key(s) named __proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
