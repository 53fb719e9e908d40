import { describe, expect, it } from 'vitest';
import {
  type ApiRequestsReport,
  differences,
  expectedLifecycle,
  formatReport,
  planSteps,
  recordLifecycle,
} from '../sim/api-requests.ts';
import { seededRandom } from '../sim/random.ts';

/** What `npm run sim -- --api-requests` plans and expects, without local mode. */

const booked = (state: string) => ({
  state,
  scheduling_request: {
    slot_selection: 'complete',
    event: {
      start: { time: '2031-03-04T09:00:00Z', tzid: 'Etc/UTC' },
      end: { time: '2031-03-04T09:30:00Z', tzid: 'Etc/UTC' },
    },
  },
});

describe('planSteps', () => {
  const plans = (silentShare: number) =>
    Array.from({ length: 200 }, (_, i) => planSteps(seededRandom(i), silentShare, Date.UTC(2031, 0, 1)));

  it('books first (or only declines), reschedules later each time, and never declines silently', () => {
    for (const plan of plans(1)) {
      expect(plan[0]?.step === 'time_chosen' || (plan.length === 1 && plan[0]?.step === 'declined')).toBe(
        true,
      );
      for (const step of plan) expect(step.notify).toBe(step.step === 'declined');
      const timed = plan.filter((step) => step.start !== undefined);
      for (const [i, step] of timed.entries()) {
        expect(Date.parse(step.end ?? '') - Date.parse(step.start ?? '')).toBe(30 * 60_000);
        if (i > 0)
          expect(Date.parse(step.start ?? '')).toBeGreaterThan(Date.parse(timed[i - 1]?.start ?? ''));
      }
    }
    expect(
      plans(0)
        .flat()
        .every((step) => step.notify),
    ).toBe(true);
    const kinds = new Set(plans(0.3).flatMap((plan) => plan.map((step) => step.step)));
    expect([...kinds].sort()).toEqual(['declined', 'rescheduled', 'time_chosen']);
  });
});

describe('expectedLifecycle', () => {
  it('tells rescheduled from time_chosen by the last notified step, as Cronofy shows only "booked"', () => {
    expect(expectedLifecycle(booked('booked'), 'rescheduled', 'C-1')).toEqual({
      status: 'rescheduled',
      start: '2031-03-04T09:00:00.000Z',
      end: '2031-03-04T09:30:00.000Z',
      correlationId: 'C-1',
    });
    expect(expectedLifecycle(booked('booked'), 'time_chosen', 'C-1').status).toBe('time_chosen');
    // Booked silently: reconciliation infers time_chosen.
    expect(expectedLifecycle(booked('booked'), undefined, 'C-1').status).toBe('time_chosen');
    expect(expectedLifecycle(booked('declined'), 'declined', 'C-1').status).toBe('declined');
    expect(expectedLifecycle({ state: 'pending', scheduling_request: {} }, undefined, 'C-1')).toEqual({
      status: 'pending',
      start: undefined,
      end: undefined,
      correlationId: 'C-1',
    });
  });
});

describe('differences', () => {
  const expected = expectedLifecycle(booked('booked'), 'rescheduled', 'C-1');

  it('is empty for a record that shows what Cronofy holds, whatever the time notation', () => {
    const record = {
      status: 'rescheduled',
      correlation_id: 'C-1',
      event: { start: { time: '2031-03-04T09:00:00.000Z' }, end: '2031-03-04T09:30:00Z' },
    };
    expect(differences(recordLifecycle(record), expected)).toEqual([]);
  });

  it('names each field that differs, and a missing record', () => {
    const record = { status: 'time_chosen', correlation_id: 'C-1', event: { start: '2031-03-03T09:00:00Z' } };
    expect(differences(recordLifecycle(record), expected)).toEqual([
      'status time_chosen, Cronofy rescheduled',
      'event start 2031-03-03T09:00:00.000Z, Cronofy 2031-03-04T09:00:00.000Z',
      'event end none, Cronofy 2031-03-04T09:30:00.000Z',
    ]);
    expect(differences(recordLifecycle(undefined), expected)).toEqual(['no record']);
  });
});

describe('formatReport (sim --api-requests)', () => {
  const report: ApiRequestsReport = {
    gateway: 'http://127.0.0.1:3000',
    cronofyApi: 'http://127.0.0.1:3100',
    seed: 1,
    runId: 'run',
    created: 50,
    steps: 60,
    byStep: { time_chosen: 40, rescheduled: 12, declined: 8 },
    notified: 36,
    silent: 24,
    undelivered: 0,
    unapplied: 0,
    behind: 10,
    convergedAfterReconcile: 10,
    mismatched: 0,
    reconcile: { calls: 1, checked: 50, changed: 10, unchanged: 40, stale: 0, notFound: [], failed: [] },
    findings: [],
    ok: true,
  };

  it('says what silent steps are, and why fewer records change than steps were silent', () => {
    const lines = formatReport(report).split('\n');
    expect(lines[0]).toContain('silent 24 (made in the fake without a notification: a missed delivery)');
    expect(lines[1]).toMatch(
      /^ {2}behind {5}10 request\(s\) whose record missed the fake's last step \(silent counts steps, behind counts requests:/,
    );
    expect(lines[2]).toContain('10 changed (a record caught up with the fake), 40 unchanged');
  });
});
