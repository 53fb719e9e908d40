import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '#shared/contract/keys.ts';
import {
  type DownstreamRecord,
  type EventRecord,
  type EventTriggerRecord,
  SCHEDULING_REQUEST_STATUSES,
  type SchedulingRequestRecord,
} from '#shared/contract/records.ts';
import { parseCronofyEvent } from '#shared/events/consumer-types.ts';
import {
  busEntryOf,
  busEventOf,
  canonicalJson,
  domainEventOf,
  domainEventOfStreamRecord,
  entrySize,
  PUT_EVENTS_MAX_BYTES,
  type RecordChange,
  type StreamEventName,
  visibleState,
} from '#shared/events/domain-events.ts';
import { DETAIL_TYPES, detailSchemaOf } from '#shared/events/schemas.ts';

/** The mapping from a record change to a downstream event (shared/events/README.md), over every entity and transition. */

const T0 = '2026-03-01T10:00:00.000Z';
const T1 = '2026-03-01T10:05:00.000Z';
const T2 = '2026-03-01T10:09:00.000Z';

function request(overrides: Partial<SchedulingRequestRecord> = {}): SchedulingRequestRecord {
  return {
    entity: 'scheduling_request',
    scheduling_request_id: 'sr_1',
    status: 'pending',
    updated_at: T0,
    revision: 1,
    ...overrides,
  };
}

function conferencingEvent(overrides: Partial<EventRecord> = {}): EventRecord {
  return {
    entity: 'event',
    event_id: 'ev_1',
    conferencing: { status: 'assigned', provider_name: 'Zoom', join_url: 'https://zoom.example/j/1' },
    start: '2026-03-02T10:00:00Z',
    end: '2026-03-02T10:30:00Z',
    triggered_at: T0,
    updated_at: T0,
    conferencing_as_of: T0,
    revision: 1,
    ...overrides,
  };
}

const trigger: EventTriggerRecord = {
  entity: 'event_trigger',
  event_id: 'ev_1',
  transition: { before: 'event_start', offset: { minutes: 5 } },
  notification_id: 'sha256:abc',
  received_at: T1,
  target_time: '2026-03-02T09:55:00.000Z',
  delay_seconds: 1.5,
};

const change = (
  oldRecord: DownstreamRecord | undefined,
  newRecord: DownstreamRecord | undefined,
  eventName?: StreamEventName,
): RecordChange => ({
  eventName: eventName ?? (oldRecord ? (newRecord ? 'MODIFY' : 'REMOVE') : 'INSERT'),
  oldRecord,
  newRecord,
});

const typeOf = (c: RecordChange) => domainEventOf(c)?.['detail-type'];

const stepType = (status: string) =>
  status === 'pending' ? 'scheduling_request.created' : `scheduling_request.${status}`;

describe('scheduling_request: status transitions', () => {
  it('an inserted request with each status is that step', () => {
    for (const status of SCHEDULING_REQUEST_STATUSES) {
      expect(typeOf(change(undefined, request({ status }))), status).toBe(stepType(status));
    }
  });

  it('every change from one status to another is the new status as a past fact', () => {
    const seen = new Set<string>();
    for (const from of SCHEDULING_REQUEST_STATUSES) {
      for (const to of SCHEDULING_REQUEST_STATUSES) {
        if (from === to) continue;
        const event = domainEventOf(
          change(request({ status: from }), request({ status: to, updated_at: T1, revision: 2 })),
        );
        expect(event?.['detail-type'], `${from} → ${to}`).toBe(stepType(to));
        expect(event?.detail.changed).toEqual(['status']);
        seen.add(event?.['detail-type'] as string);
      }
    }
    expect(seen.size).toBe(SCHEDULING_REQUEST_STATUSES.length);
  });

  it('a record that only had participants gets its first status: that step', () => {
    const participantsOnly = request({
      status: undefined,
      event: { attendees: [{ email: 'a@x', status: 'accepted' }] },
    });
    expect(
      typeOf(change(participantsOnly, { ...participantsOnly, status: 'time_chosen', updated_at: T1 })),
    ).toBe('scheduling_request.time_chosen');
  });

  it('a request created then booked: created, then time_chosen, with different ids', () => {
    const created = request({ select_url: 'https://app.cronofy.com/rts/x', created_via: 'api' });
    const booked = {
      ...created,
      status: 'time_chosen' as const,
      event: { start: '2026-03-02T10:00:00Z', end: '2026-03-02T10:30:00Z' },
      last_notification_type: 'scheduling_request_time_chosen',
      triggered_at: T1,
      updated_at: T1,
      revision: 2,
    };
    const first = domainEventOf(change(undefined, created));
    const second = domainEventOf(change(created, booked));
    expect(first?.['detail-type']).toBe('scheduling_request.created');
    expect(first?.detail.changed).toEqual([
      'created_via',
      'entity',
      'scheduling_request_id',
      'select_url',
      'status',
    ]);
    expect(second?.['detail-type']).toBe('scheduling_request.time_chosen');
    expect(second?.detail.changed).toEqual(['event', 'last_notification_type', 'status', 'triggered_at']);
    expect(second?.detail.event_id).not.toBe(first?.detail.event_id);
  });

  it("the API's create landing on a request a notification already booked: created, not a second booking", () => {
    const booked = request({ status: 'time_chosen', triggered_at: T0 });
    const withLinks = {
      ...booked,
      select_url: 'https://x',
      dashboard_url: 'https://y',
      created_via: 'api',
      updated_at: T1,
    };
    const event = domainEventOf(change(booked, withLinks));
    expect(event?.['detail-type']).toBe('scheduling_request.created');
    expect(event?.detail.changed).toEqual(['created_via', 'dashboard_url', 'select_url']);
  });

  it('a booked request that only gains its tenant (a notification at a tenant URL, same values): not created', () => {
    const booked = request({ status: 'time_chosen', triggered_at: T0 });
    const withTenant = { ...booked, tenant_id: 'acme', triggered_at: T1, updated_at: T1, revision: 2 };
    const event = domainEventOf(change(booked, withTenant));
    expect(event?.['detail-type']).toBe('scheduling_request.time_chosen');
    expect(event?.detail.changed).toEqual(['tenant_id', 'triggered_at']);
  });

  it('a participant change and a reschedule in one notification: one rescheduled event listing both', () => {
    const before = request({
      status: 'time_chosen',
      event: { start: '2026-03-02T10:00:00Z', attendees: [{ email: 'a@x', status: 'accepted' }] },
      triggered_at: T0,
      participants_triggered_at: T0,
    });
    const after = {
      ...before,
      status: 'rescheduled' as const,
      event: { start: '2026-03-03T10:00:00Z', attendees: [{ email: 'a@x', status: 'needs_action' }] },
      last_notification_type: 'scheduling_request_rescheduled',
      triggered_at: T1,
      participants_triggered_at: T1,
      updated_at: T1,
    };
    const event = domainEventOf(change(before, after));
    expect(event?.['detail-type']).toBe('scheduling_request.rescheduled');
    expect(event?.detail.changed).toEqual([
      'event',
      'last_notification_type',
      'participants_triggered_at',
      'status',
      'triggered_at',
    ]);
    // A second reschedule (status unchanged) with participants: still a reschedule, not a participant change.
    const again = {
      ...after,
      event: { start: '2026-03-04T10:00:00Z', attendees: [] },
      triggered_at: T2,
      updated_at: T2,
    };
    expect(typeOf(change(after, again))).toBe('scheduling_request.rescheduled');
  });

  it('only participants changed: participants_changed, also on a record without a status', () => {
    const before = request({
      status: 'time_chosen',
      event: { start: 'x', host: { email: 'h@x', status: 'accepted' } },
    });
    const after = {
      ...before,
      event: { start: 'x', host: { email: 'h@x', status: 'declined' } },
      participants_triggered_at: T1,
      updated_at: T1,
    };
    const event = domainEventOf(change(before, after));
    expect(event?.['detail-type']).toBe('scheduling_request.participants_changed');
    expect(event?.detail.changed).toEqual(['event', 'participants_triggered_at']);
    const statusless = request({ status: undefined, event: { attendees: [{ email: 'a@x' }] } });
    expect(typeOf(change(undefined, statusless))).toBe('scheduling_request.participants_changed');
  });

  it('a reconciliation that fixed a missed booking: time_chosen, reconciled_at listed, bookkeeping not', () => {
    const pending = request({ open_bucket: 'open#3', open_until: '2026-04-01T00:00:00.000Z' });
    const fixed = {
      ...request({ status: 'time_chosen', updated_at: T1, revision: 2 }),
      event: { start: '2026-03-02T10:00:00Z', end: '2026-03-02T10:30:00Z' },
      reconciled_at: T1,
      lifecycle_as_of: T1,
      status_as_of: T1,
    };
    const event = domainEventOf(change(pending, fixed));
    expect(event?.['detail-type']).toBe('scheduling_request.time_chosen');
    expect(event?.detail.changed).toEqual(['event', 'reconciled_at', 'status']);
    expect(event?.detail.record).not.toHaveProperty('status_as_of');
    expect(event?.detail.record).not.toHaveProperty('open_bucket');
  });

  it('the same step again with other values: that step (a reconciliation correcting the times, a pending request filled in)', () => {
    const booked = request({ status: 'time_chosen', event: { start: 'a' } });
    expect(
      typeOf(change(booked, { ...booked, event: { start: 'b' }, reconciled_at: T1, updated_at: T1 })),
    ).toBe('scheduling_request.time_chosen');
    const pending = request();
    expect(typeOf(change(pending, { ...pending, metadata: { k: 'v' }, updated_at: T1 }))).toBe(
      'scheduling_request.created',
    );
  });

  it('an older step delivered late filling in values the step shown left out: that step, without status or triggered_at in changed', () => {
    // Declined at T1 without an event; the reschedule of T0, delivered after it, brings its times.
    const declined = request({
      status: 'declined',
      triggered_at: T1,
      last_notification_type: 'scheduling_request_declined',
    });
    const filled = { ...declined, event: { start: 'b' }, updated_at: T2, revision: 2 };
    const event = domainEventOf(change(declined, filled));
    expect(event?.['detail-type']).toBe('scheduling_request.declined');
    expect(event?.detail.changed).toEqual(['event']);
  });
});

describe('no event', () => {
  it('for a bookkeeping-only rewrite (the open index closed, ordering marks moved)', () => {
    const open = request({
      status: 'time_chosen',
      open_bucket: 'open#1',
      open_until: T2,
      lifecycle_applied: ['a'],
    });
    const { open_bucket: _b, open_until: _u, ...closed } = open;
    expect(
      domainEventOf(
        change(open, {
          ...closed,
          lifecycle_applied: ['a', 'b'],
          lifecycle_received_at: T1,
          participants_as_of: T1,
          participants_received_at: T1,
          status_received_at: T1,
          updated_at: T1,
          revision: 7,
        }),
      ),
    ).toBeUndefined();
    const event = conferencingEvent();
    expect(
      domainEventOf(
        change(event, {
          ...event,
          conferencing_applied: ['z'],
          conferencing_received_at: T1,
          updated_at: T1,
          revision: 2,
        }),
      ),
    ).toBeUndefined();
  });

  it('for an unchanged MODIFY, and for one that only moved provenance (a newer notification, same values)', () => {
    const booked = request({ status: 'time_chosen', triggered_at: T0 });
    expect(domainEventOf(change(booked, booked))).toBeUndefined();
    expect(
      domainEventOf(
        change(booked, { ...booked, triggered_at: T1, last_notification_type: 'x', updated_at: T1 }),
      ),
    ).toBeUndefined();
    const event = conferencingEvent();
    expect(domainEventOf(change(event, { ...event, triggered_at: T1, updated_at: T1 }))).toBeUndefined();
  });

  it('for a REMOVE (TTL expiry), notification, redirect and idempotency items, and non-records', () => {
    expect(domainEventOf(change(request(), undefined, 'REMOVE'))).toBeUndefined();
    expect(
      domainEventOf({ eventName: 'REMOVE', oldRecord: request(), newRecord: request() }),
    ).toBeUndefined();
    const notification: DownstreamRecord = {
      entity: 'notification',
      notification_id: 'n',
      type: 'scheduling_request_time_chosen',
      status: 'applied',
      received_at: T0,
      body: '{}',
      body_encoding: 'utf8',
      processed_at: T0,
    };
    expect(domainEventOf(change(undefined, notification))).toBeUndefined();
    expect(
      domainEventOf(change(undefined, { entity: 'redirect', step: 'time_chosen', at: T0 })),
    ).toBeUndefined();
    for (const image of [
      {
        entity: { S: 'idempotency' },
        status: { S: 'in_progress' },
        created_at: { S: T0 },
        expires_at: { N: '1' },
      },
      { entity: { S: 'lease' }, holder: { S: 'x' } },
      { entity: { S: 'scheduling_request' } },
      { nothing: { Q: 'broken' } },
    ]) {
      expect(
        domainEventOfStreamRecord({ eventName: 'INSERT', dynamodb: { NewImage: image } }),
      ).toBeUndefined();
    }
    expect(domainEventOfStreamRecord({})).toBeUndefined();
  });
});

describe('event: conferencing', () => {
  it('assigned, failing, and the same status with new times', () => {
    expect(typeOf(change(undefined, conferencingEvent()))).toBe('event.conferencing_assigned');
    const assigned = conferencingEvent();
    const failing = conferencingEvent({
      conferencing: { status: 'failing' },
      triggered_at: T1,
      updated_at: T1,
    });
    expect(typeOf(change(assigned, failing))).toBe('event.conferencing_failing');
    expect(typeOf(change(failing, { ...assigned, updated_at: T2 }))).toBe('event.conferencing_assigned');
    const moved = domainEventOf(change(assigned, { ...assigned, start: 'later', updated_at: T1 }));
    expect(moved?.['detail-type']).toBe('event.conferencing_assigned');
    expect(moved?.detail.changed).toEqual(['start']);
  });

  it('an event without conferencing means nothing', () => {
    expect(domainEventOf(change(undefined, conferencingEvent({ conferencing: undefined })))).toBeUndefined();
  });
});

describe('event_trigger', () => {
  it('a new trigger record fires; a replay rewriting it does not', () => {
    const fired = domainEventOf(change(undefined, trigger));
    expect(fired?.['detail-type']).toBe('event_trigger.fired');
    expect(fired?.detail.occurred_at).toBe(T1);
    expect(domainEventOf(change(trigger, trigger))).toBeUndefined();
    expect(domainEventOf(change(trigger, { ...trigger, received_at: T2, delay_seconds: 9 }))).toBeUndefined();
  });
});

describe('event ids and detail', () => {
  const booked = request({ status: 'time_chosen', updated_at: T1, revision: 2, tenant_id: 'acme' });

  it('a replayed stream record (or a retried delivery) has the same id; the id does not depend on key order', () => {
    const stream = {
      eventName: 'MODIFY',
      dynamodb: { OldImage: marshall(request()), NewImage: marshall(booked) },
    };
    const once = domainEventOfStreamRecord(stream);
    expect(domainEventOfStreamRecord(structuredClone(stream))).toEqual(once);
    const reversed = Object.fromEntries(Object.entries(booked).reverse()) as typeof booked;
    expect(domainEventOf(change(request(), reversed))?.detail.event_id).toBe(once?.detail.event_id);
    expect(once?.detail.event_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('a record going back and forth has a new id for every change', () => {
    const a = request({ status: 'time_chosen', event: { attendees: [{ email: 'x', status: 'accepted' }] } });
    const b = {
      ...a,
      event: { attendees: [{ email: 'x', status: 'declined' }] },
      updated_at: T1,
      revision: 2,
    };
    const a2 = { ...a, updated_at: T2, revision: 3 };
    const b2 = { ...b, updated_at: '2026-03-01T11:00:00.000Z', revision: 4 };
    const ids = [change(a, b), change(b, a2), change(a2, b2)].map((c) => domainEventOf(c)?.detail.event_id);
    expect(new Set(ids).size).toBe(3);
  });

  it('carries tenant_id, occurred_at = the write time, the record without bookkeeping, revision kept', () => {
    const event = domainEventOf(
      change(request(), { ...booked, lifecycle_as_of: T1, open_bucket: 'o', open_until: T2 }),
    );
    expect(event).toMatchObject({
      source: 'cronofy.notifications',
      time: T1,
      detail: { occurred_at: T1, tenant_id: 'acme' },
    });
    expect(event?.detail.record).toEqual({
      entity: 'scheduling_request',
      scheduling_request_id: 'sr_1',
      status: 'time_chosen',
      revision: 2,
      tenant_id: 'acme',
    });
    expect(domainEventOf(change(request(), request({ status: 'declined' })))?.detail).not.toHaveProperty(
      'tenant_id',
    );
  });

  it('values JSON cannot hold are made JSON (big integers as strings, sets as arrays)', () => {
    const image = {
      ...marshall(request()),
      metadata: { M: { big: { N: '12345678901234567890' }, tags: { SS: ['b', 'a'] } } },
    };
    const event = domainEventOfStreamRecord({ eventName: 'INSERT', dynamodb: { NewImage: image } });
    expect(event?.detail.record).toHaveProperty('metadata');
    expect((event?.detail.record as SchedulingRequestRecord | undefined)?.metadata).toEqual({
      big: '12345678901234567890',
      tags: ['a', 'b'],
    });
    expect(() => JSON.stringify(event)).not.toThrow();
  });

  it('every detail produced matches the schema of its detail-type, and every detail-type is reachable', () => {
    const produced = [
      ...SCHEDULING_REQUEST_STATUSES.map((status) => change(undefined, request({ status, tenant_id: 't' }))),
      change(request(), request({ status: undefined, event: { attendees: [] } })),
      change(undefined, conferencingEvent()),
      change(undefined, conferencingEvent({ conferencing: { status: 'failing' } })),
      change(undefined, trigger),
    ].map((c) => domainEventOf(c));
    for (const event of produced) {
      if (!event) throw new Error('expected an event');
      expect(detailSchemaOf(event['detail-type']).safeParse(event.detail).success, event['detail-type']).toBe(
        true,
      );
    }
    expect(new Set(produced.map((e) => e?.['detail-type']))).toEqual(new Set(DETAIL_TYPES));
  });
});

describe('a record too large for one PutEvents entry', () => {
  // Two valid bodies of ~181 KB each: a booking with a large `captured_data`, then a participant status change
  // with a large attendee list. Each record alone fits an entry; together they make a ~361 KB record.
  const capturedData = Object.fromEntries(
    Array.from({ length: 180 }, (_, i) => [`captured_data.answer_${i}`, 'a'.repeat(1000)]),
  );
  const attendees = Array.from({ length: 1500 }, (_, i) => ({
    email: `attendee.${String(i).padStart(4, '0')}@example.com`,
    display_name: `Attendee number ${i} of the panel`.padEnd(60, '.'),
    status: 'accepted',
  }));
  const booked = request({
    status: 'time_chosen',
    tenant_id: 'acme',
    correlation_id: 'cand-42',
    metadata: capturedData,
    event: { start: '2026-03-02T10:00:00Z', end: '2026-03-02T11:00:00Z', summary: 'Interview' },
    last_notification_type: 'scheduling_request_time_chosen',
    triggered_at: T0,
    lifecycle_applied: ['body-1'],
    revision: 2,
  });
  const crowded = {
    ...booked,
    event: { ...booked.event, attendees },
    participants_triggered_at: T1,
    participants_applied: ['body-2'],
    updated_at: T1,
    revision: 3,
  };
  const sizeOf = (event: ReturnType<typeof domainEventOf>) =>
    event ? entrySize(busEntryOf(event)) : Number.NaN;
  const wholeSize = (next: SchedulingRequestRecord) => Buffer.byteLength(JSON.stringify(visibleState(next)));

  it('a normal record, even a large one, goes whole', () => {
    const event = domainEventOf(change(request(), booked));
    expect(wholeSize(booked)).toBeGreaterThan(180_000);
    expect(event?.['detail-type']).toBe('scheduling_request.time_chosen');
    expect(event?.detail).not.toHaveProperty('record_truncated');
    expect(event?.detail.record).toEqual(visibleState(booked));
    expect(sizeOf(event)).toBeLessThan(PUT_EVENTS_MAX_BYTES);
  });

  it('goes as one event under the limit, its record reduced to its identity, with the id of the whole change', () => {
    expect(wholeSize(crowded)).toBeGreaterThan(360_000);
    const event = domainEventOf(change(booked, crowded));
    expect(event?.['detail-type']).toBe('scheduling_request.participants_changed');
    expect(sizeOf(event)).toBeLessThan(2_000);
    expect(event?.detail).toEqual({
      event_id: sha256Hex(
        canonicalJson(['scheduling_request.participants_changed', T1, visibleState(crowded)]),
      ).slice(0, 32),
      occurred_at: T1,
      tenant_id: 'acme',
      record: {
        entity: 'scheduling_request',
        scheduling_request_id: 'sr_1',
        tenant_id: 'acme',
        status: 'time_chosen',
        revision: 3,
        correlation_id: 'cand-42',
        last_notification_type: 'scheduling_request_time_chosen',
        triggered_at: T0,
        participants_triggered_at: T1,
      },
      changed: ['event', 'participants_triggered_at'],
      record_truncated: true,
    });
    expect(detailSchemaOf('scheduling_request.participants_changed').safeParse(event?.detail).success).toBe(
      true,
    );
    const delivered = event && busEventOf(event, { id: 'x', account: '1', region: 'eu-west-1' });
    expect(parseCronofyEvent(delivered)).toBe(delivered);
  });

  it("the id is the whole change's: two changes that differ only in what was left out have different ids", () => {
    const other = { ...crowded, event: { ...crowded.event, attendees: attendees.slice(1) } };
    const a = domainEventOf(change(booked, crowded));
    const b = domainEventOf(change(booked, other));
    expect(b?.detail.record).toEqual(a?.detail.record);
    expect(b?.detail.event_id).not.toBe(a?.detail.event_id);
    expect(domainEventOf(change(booked, structuredClone(crowded)))?.detail.event_id).toBe(a?.detail.event_id);
  });

  it('keeps an optional field only when it is small, so the reduced record always fits', () => {
    const event = domainEventOf(change(booked, { ...crowded, correlation_id: 'c'.repeat(300_000) }));
    expect(event?.detail.record_truncated).toBe(true);
    expect(event?.detail.record).not.toHaveProperty('correlation_id');
    expect(event?.detail.changed).toContain('correlation_id');
    expect(sizeOf(event)).toBeLessThan(2_000);
  });

  it('an event or an event_trigger keeps what its schema requires and routes it', () => {
    const summary = 's'.repeat(300_000);
    const conferencing = domainEventOf(change(undefined, conferencingEvent({ summary, tenant_id: 't' })));
    const fired = domainEventOf(change(undefined, { ...trigger, summary }));
    expect(conferencing?.detail).toMatchObject({
      record_truncated: true,
      record: {
        entity: 'event',
        event_id: 'ev_1',
        tenant_id: 't',
        revision: 1,
        conferencing: { status: 'assigned', provider_name: 'Zoom', join_url: 'https://zoom.example/j/1' },
        triggered_at: T0,
      },
    });
    const { summary: _s, ...firedIdentity } = trigger;
    expect(fired?.detail).toMatchObject({ record_truncated: true, record: firedIdentity });
    for (const event of [conferencing, fired]) {
      if (!event) throw new Error('expected an event');
      expect(event.detail.record).not.toHaveProperty('summary');
      expect(sizeOf(event)).toBeLessThan(2_000);
      expect(detailSchemaOf(event['detail-type']).safeParse(event.detail).success).toBe(true);
    }
  });
});
