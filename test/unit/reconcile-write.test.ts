import { describe, expect, it } from 'vitest';
import { buildStateExpression } from '#shared/aws/dynamo-store.ts';
import { OPEN_UNTIL_UNKNOWN, openIndexChange, openUntil } from '#shared/contract/open-index.ts';
import { mergeState } from '#shared/contract/ordering.ts';
import { reconcileWrite } from '#shared/scheduling/reconcile.ts';

/** What reconciliation writes for an answer (pure), and the open-requests index attributes. */

const AT = '2026-11-23T10:00:00.000Z';
const booked = {
  scheduling_request_id: 'srq_1',
  slot_selection: 'complete',
  event: {
    summary: 'Interview',
    start: { time: '2030-01-02T10:00:00Z', tzid: 'Etc/UTC' },
    end: { time: '2030-01-02T10:30:00Z', tzid: 'Etc/UTC' },
    attendees: [{ email: 'c@example.com', status: 'accepted' }],
    metadata: { scheduler: { correlation_id: 'CAND-1' } },
  },
};

describe('reconcileWrite', () => {
  it('turns pending into time_chosen only when the answer shows a completed selection with times', () => {
    const write = reconcileWrite(booked, { status: 'pending' }, AT, AT);
    const lifecycle = write?.aspects.find((a) => a.aspect === 'lifecycle');
    expect(lifecycle?.set).toMatchObject({
      status: 'time_chosen',
      correlation_id: 'CAND-1',
      open_bucket: 'open',
      open_until: '2030-01-02T10:30:00.000Z',
    });
    expect(write).toMatchObject({ at: AT, key: `reconcile:${AT}`, common: { reconciled_at: AT } });
    expect(write?.triggeredAt).toBeUndefined();
  });

  it('books a request whose status says it is not booked yet, whatever the booking notification it missed', () => {
    for (const status of ['more_times_requested', 'no_times_available']) {
      const write = reconcileWrite(booked, { status }, AT, AT);
      expect(write?.aspects.find((a) => a.aspect === 'lifecycle')?.set.status).toBe('time_chosen');
    }
  });

  it('never invents another status', () => {
    for (const status of ['time_chosen', 'declined', 'cancelled', undefined]) {
      const write = reconcileWrite(booked, status ? { status } : undefined, AT, AT);
      expect(write?.aspects.find((a) => a.aspect === 'lifecycle')?.set.status).toBeUndefined();
    }
    const declinedAttendee = {
      ...booked,
      event: { ...booked.event, attendees: [{ email: 'c@example.com', status: 'declined' }] },
    };
    const write = reconcileWrite(declinedAttendee, { status: 'pending' }, AT, AT);
    expect(write?.aspects.find((a) => a.aspect === 'lifecycle')?.set.status).toBeUndefined();
  });

  it('writes nothing when the record already shows what the answer shows', () => {
    const record = mergeState(
      { status: 'pending' },
      reconcileWrite(booked, { status: 'pending' }, AT, AT) as never,
    ).item;
    expect(reconcileWrite(booked, record, '2026-11-23T11:00:00.000Z', AT)).toBeUndefined();
  });

  it('takes away a correlation id that the metadata it shows no longer holds, and then finds nothing new', () => {
    const uncorrelated = {
      ...booked,
      event: { ...booked.event, metadata: { scheduler: { utm_source: 'ats' } } },
    };
    const record = mergeState(
      { status: 'pending' },
      reconcileWrite(booked, { status: 'pending' }, AT, AT) as never,
    ).item;
    const write = reconcileWrite(uncorrelated, record, '2026-11-23T11:00:00.000Z', AT);
    const after = mergeState(record, write as never).item;
    expect(after).toMatchObject({ metadata: { utm_source: 'ats' } });
    expect(after?.correlation_id).toBeUndefined();
    expect(reconcileWrite(uncorrelated, after, '2026-11-23T11:30:00.000Z', AT)).toBeUndefined();
  });

  it('ignores a pending answer without times (the template summary is no missed delivery)', () => {
    const pending = {
      scheduling_request_id: 'srq_1',
      slot_selection: 'pending',
      event: { summary: 'Interview' },
    };
    expect(reconcileWrite(pending, { status: 'pending' }, AT, AT)).toBeUndefined();
  });
});

describe('open-requests index attributes', () => {
  it('open statuses carry the event end, final ones remove both attributes', () => {
    expect(openIndexChange('time_chosen', { time: '2030-01-02T10:30:00+01:00' })).toEqual({
      set: { open_bucket: 'open', open_until: '2030-01-02T09:30:00.000Z' },
    });
    expect(openIndexChange('more_times_requested', undefined).set?.open_until).toBe(OPEN_UNTIL_UNKNOWN);
    for (const status of ['declined', 'cancelled', 'event_started', 'event_ended'])
      expect(openIndexChange(status, undefined)).toEqual({ remove: ['open_bucket', 'open_until'] });
    expect(openIndexChange(undefined, undefined)).toEqual({});
    // An all-day event has ended the day after its date.
    expect(openUntil('2030-01-02')).toBe('2030-01-03T00:00:00.000Z');
  });

  it('removal is the same in the merge and in the one-shot update expression', () => {
    const write = {
      pk: 'scheduling_request#srq_1',
      key: 'k',
      at: AT,
      common: { entity: 'scheduling_request' },
      aspects: [
        { aspect: 'lifecycle' as const, set: { status: 'declined' }, remove: ['open_bucket', 'open_until'] },
      ],
    };
    const merged = mergeState(
      { pk: write.pk, status: 'time_chosen', open_bucket: 'open', open_until: AT },
      write,
    );
    expect(merged.item).not.toHaveProperty('open_bucket');
    expect(merged.item).not.toHaveProperty('open_until');
    const expression = buildStateExpression(write);
    const removed = expression.update
      .split(' REMOVE ')[1]
      ?.split(', ')
      .map((name) => expression.names[name]);
    expect(removed).toEqual(expect.arrayContaining(['open_bucket', 'open_until']));
  });
});
