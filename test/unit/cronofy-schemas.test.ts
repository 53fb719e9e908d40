import { describe, expect, it } from 'vitest';
import { classify, SCHEDULING_REQUEST_TYPES } from '#shared/notifications/cronofy-schemas.ts';
import {
  conferencingBody,
  eventTriggerBody,
  fixture,
  schedulingRequestBody,
} from '../support/cronofy-payloads.ts';

describe('Cronofy notification schemas', () => {
  it('parses the Scheduler Workflows seed callback', () => {
    const result = classify(fixture('seed-time-chosen.json'));
    expect(result.outcome).toBe('parsed');
    if (result.outcome !== 'parsed' || result.notification.kind !== 'scheduling_request')
      throw new Error('kind');
    expect(result.notification.type).toBe('scheduling_request_time_chosen');
    expect(result.notification.payload.scheduling_request.scheduling_request_id).toBe(
      'srq_d6f3f8165239d662963fc09b',
    );
    expect(
      result.notification.payload.scheduling_request.event?.metadata?.scheduler?.['captured_data.notes'],
    ).toBe('No dietary requirements.');
  });

  it('keeps the documented participant-status example (trailing commas) as unparseable, never throwing', () => {
    const result = classify(fixture('seed-participant-status-changed.txt'));
    expect(result).toMatchObject({ outcome: 'unparseable', type: null, reason: 'body is not valid JSON' });
  });

  it('parses the participant-status example once it is valid JSON', () => {
    const fixed = fixture('seed-participant-status-changed.txt').replace(/,(\s*[}\]])/g, '$1');
    const result = classify(fixed);
    expect(result.outcome).toBe('parsed');
    if (result.outcome !== 'parsed') throw new Error('outcome');
    expect(result.notification.type).toBe('event_participant_status_changed');
  });

  it.each(['seed-conferencing-assigned.json', 'seed-conferencing-failing.json'])('parses %s', (name) => {
    const result = classify(fixture(name));
    expect(result.outcome).toBe('parsed');
    if (result.outcome !== 'parsed' || result.notification.kind !== 'event_subscription')
      throw new Error('kind');
    expect(result.notification.payload.event.event_id).toBe('qTtZdczOccgaPncGJaCiLg');
  });

  it.each(SCHEDULING_REQUEST_TYPES)('parses a %s notification', (type) => {
    const result = classify(schedulingRequestBody(type, { triggeredAt: '2026-11-23T10:00:00Z' }));
    expect(result).toMatchObject({ outcome: 'parsed', notification: { type } });
  });

  it('parses Event Trigger callbacks with the transition as an array or a single object', () => {
    for (const form of ['array', 'single'] as const) {
      const result = classify(eventTriggerBody({ before: 'event_start', offset: { minutes: 5 } }, { form }));
      expect(result.outcome).toBe('parsed');
    }
    expect(classify(conferencingBody('conferencing_failing', { subtype: 'profile_missing' })).outcome).toBe(
      'parsed',
    );
  });

  it('tolerates fields Cronofy adds later', () => {
    const body = JSON.parse(schedulingRequestBody('scheduling_request_rescheduled'));
    body.notification.new_field = { nested: true };
    body.scheduling_request.event.new_event_field = [1, 2];
    body.brand_new_section = 'x';
    expect(classify(JSON.stringify(body)).outcome).toBe('parsed');
  });

  it('keeps scheduler metadata of any JSON value, and refuses an empty id or metadata that is not an object', () => {
    const body = JSON.parse(schedulingRequestBody('scheduling_request_time_chosen'));
    Object.assign(body.scheduling_request.event.metadata.scheduler, { n: 1, list: ['a'], nested: { a: 1 } });
    expect(classify(JSON.stringify(body)).outcome).toBe('parsed');
    body.scheduling_request.event.metadata.scheduler = ['a'];
    expect(classify(JSON.stringify(body))).toMatchObject({
      outcome: 'unparseable',
      reason: expect.stringContaining('scheduling_request.event.metadata.scheduler'),
    });
    const empty = JSON.parse(schedulingRequestBody('scheduling_request_time_chosen'));
    empty.scheduling_request.scheduling_request_id = '';
    expect(classify(JSON.stringify(empty))).toMatchObject({
      outcome: 'unparseable',
      reason: 'scheduling_request.scheduling_request_id: must not be empty',
    });
  });

  it('classifies unknown types, known types with unreadable payloads, and garbage', () => {
    expect(classify('{"notification":{"type":"scheduling_request_teleported"}}')).toEqual({
      outcome: 'unknown_type',
      type: 'scheduling_request_teleported',
      triggeredAt: undefined,
    });
    expect(
      classify('{"notification":{"type":"scheduling_request_time_chosen"},"scheduling_request":{}}'),
    ).toMatchObject({
      outcome: 'unparseable',
      type: 'scheduling_request_time_chosen',
    });
    expect(classify('[]')).toMatchObject({ outcome: 'unparseable', type: null });
    expect(classify('')).toMatchObject({ outcome: 'unparseable', type: null });
    expect(classify(undefined)).toMatchObject({ outcome: 'unparseable', reason: 'body is not valid UTF-8' });
  });

  it('parses a known notification whose triggered_at is not a string (the plan treats it as absent)', () => {
    const body = schedulingRequestBody('scheduling_request_time_chosen', {
      triggeredAt: '2026-11-23T12:00:00Z',
    }).replace('"triggered_at":"2026-11-23T12:00:00Z"', '"triggered_at":1795943400');
    expect(classify(body)).toMatchObject({ outcome: 'parsed' });
    expect(classify('{"notification":{"type":"brand_new_type","triggered_at":{"at":1}}}')).toMatchObject({
      outcome: 'unknown_type',
      type: 'brand_new_type',
    });
  });

  it('refuses deeply nested JSON without recursing into it', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(classify(deep)).toMatchObject({ outcome: 'unparseable', reason: 'JSON nested deeper than 64' });
    // Brackets inside strings do not count.
    const stringy = JSON.stringify({ notification: { type: 'event_start' }, note: '['.repeat(500) });
    expect(classify(stringy)).toMatchObject({ outcome: 'unparseable', type: 'event_start' });
  });
});
