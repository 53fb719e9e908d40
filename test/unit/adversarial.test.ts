import { describe, expect, it } from 'vitest';
import { sha256Hex } from '#shared/contract/keys.ts';
import { keys } from '#shared/contract/records.ts';
import { silentLogger } from '#shared/core/logger.ts';
import { processBatch, type WorkerDeps } from '#shared/notifications/apply.ts';
import { normaliseTime } from '#shared/notifications/plan.ts';
import { capturingLogger } from '../support/capturing-logger.ts';
import { eventTriggerBody, schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { MemoryStore } from '../support/memory-store.ts';
import { queueMessage } from '../support/messages.ts';

/**
 * Attacks on the state model found by an adversarial review, kept as regression tests (with the in-memory
 * store, which runs the same `mergeState` as the DynamoDB adapter).
 */

const SR = 'scheduling_request#srq_d6f3f8165239d662963fc09b';

function setup(logger = silentLogger) {
  const store = new MemoryStore();
  const deps: WorkerDeps = {
    store,
    clock: () => new Date('2026-11-23T13:00:00.000Z'),
    logger,
    retentionDays: 90,
  };
  return { store, run: (...m: ReturnType<typeof queueMessage>[]) => processBatch(m, deps) };
}
type Ev = { start?: { time: string } };
const start = (item: Record<string, unknown> | undefined) => (item?.event as Ev)?.start?.time;

describe('replays of bodies with triggered_at', () => {
  it('the 1st of 17 distinct bodies applied at one second, replayed later, changes nothing', async () => {
    const { store, run } = setup();
    const at = '2026-11-23T12:00:00Z';
    const bodies = Array.from({ length: 17 }, (_, i) =>
      schedulingRequestBody(i === 0 ? 'scheduling_request_time_chosen' : 'scheduling_request_rescheduled', {
        triggeredAt: at,
        start: `2026-12-${String(i + 1).padStart(2, '0')}T10:00:00Z`,
      }),
    );
    for (const body of bodies) expect(await run(queueMessage(body))).toEqual([]);
    expect(store.get(SR)).toMatchObject({ status: 'rescheduled' });
    expect(start(store.get(SR))).toBe('2026-12-17T10:00:00Z');
    const changes = store.changes;

    // A replay of the first (captured) body under a fresh Cronofy-Notification-ID, a day later.
    const replay = queueMessage(bodies[0] as string, {
      notificationId: 'ntf_attacker',
      receivedAt: new Date('2026-11-24T12:00:00Z'),
    });
    expect(await run(replay)).toEqual([]);
    expect(store.changes).toBe(changes);
    expect(store.get(SR)).toMatchObject({ status: 'rescheduled' });
    expect(start(store.get(SR))).toBe('2026-12-17T10:00:00Z');
  });
});

describe('replays of bodies WITHOUT triggered_at', () => {
  it('their notification record never expires, and even without it the record remembers recent ones', async () => {
    const { store, run } = setup();
    const declined = schedulingRequestBody('scheduling_request_declined', { withEvent: false });
    const original = queueMessage(declined, { receivedAt: new Date('2026-11-23T10:00:00Z') });
    await run(original);
    await run(
      queueMessage(
        schedulingRequestBody('scheduling_request_rescheduled', { triggeredAt: '2026-11-23T11:00:00Z' }),
      ),
    );
    expect(store.get(SR)?.status).toBe('rescheduled');
    expect(store.get(keys.notification(original.key))).not.toHaveProperty('expires_at');
    // Were the notification record gone, the record's list of recent untimed keys would still know it.
    store.items.delete(keys.notification(original.key));
    const replay = queueMessage(declined, {
      notificationId: 'ntf_attacker',
      receivedAt: new Date('2027-03-01T00:00:00Z'),
    });
    await run(replay);
    expect(store.get(SR)?.status).toBe('rescheduled');
  });

  it('crash before the notification record, newer body applied, then a replay before redelivery: no effect', async () => {
    const { store, run } = setup();
    const declined = schedulingRequestBody('scheduling_request_declined', { withEvent: false });
    const original = queueMessage(declined, { receivedAt: new Date('2026-11-23T10:00:00Z') });
    // applyState succeeds, putNotifications fails (the worker dies between the two writes).
    store.failNext = [undefined as unknown as Error, undefined as unknown as Error, new Error('killed')];
    expect(await run(original)).toEqual([original.messageId]);
    expect(store.get(SR)?.status).toBe('declined');
    await run(
      queueMessage(
        schedulingRequestBody('scheduling_request_rescheduled', { triggeredAt: '2026-11-23T11:00:00Z' }),
      ),
    );
    // A replay under a fresh header arrives before SQS redelivers the original (visibility timeout 3 min).
    await run(
      queueMessage(declined, {
        notificationId: 'ntf_attacker',
        receivedAt: new Date('2026-11-23T11:01:00Z'),
      }),
    );
    expect(store.get(SR)?.status).toBe('rescheduled');
  });
});

describe('key design', () => {
  it("a scheduling_request_id equal to another (long) id's digest form gets its own record", async () => {
    const { store, run } = setup();
    const longId = `srq_${'x'.repeat(1100)}`;
    const digestForm = `sha256:${sha256Hex(longId)}`;
    await run(
      queueMessage(
        schedulingRequestBody('scheduling_request_time_chosen', {
          schedulingRequestId: longId,
          triggeredAt: '2026-11-23T10:00:00Z',
        }),
      ),
    );
    await run(
      queueMessage(
        schedulingRequestBody('scheduling_request_declined', {
          schedulingRequestId: digestForm,
          triggeredAt: '2026-11-23T11:00:00Z',
        }),
      ),
    );
    const records = [...store.items.values()].filter((i) => i.entity === 'scheduling_request');
    expect(records).toHaveLength(2);
  });

  it('Event Triggers of two different events never share a record', async () => {
    const { store, run } = setup();
    // evt1 + after:event_end:0 + (no end) and evt2 + before:event_start:5 + (start as sent) build the same text.
    const one = eventTriggerBody(
      { after: 'event_end', offset: { minutes: 0 } },
      { eventId: 'evt#before:event_start:5#as-sent:2026-12-01' },
    ).replace(/,"end":"[^"]*"/, '');
    const two = eventTriggerBody(
      { before: 'event_start', offset: { minutes: 5 } },
      { eventId: 'evt', start: '2026-12-01#after:event_end:0#as-sent:none' },
    );
    await run(queueMessage(one));
    await run(queueMessage(two));
    const triggers = [...store.items.values()].filter((i) => i.entity === 'event_trigger');
    expect(triggers).toHaveLength(2);
  });
});

describe('triggered_at normalisation', () => {
  it('does not depend on the process time zone: a time without an offset is no instant, in any zone', () => {
    const previous = process.env.TZ;
    try {
      process.env.TZ = 'UTC';
      expect(normaliseTime('2026-11-23T12:00:00')).toBeUndefined();
      expect(normaliseTime('2026-11-23T12:00:00+00:00')).toBe('2026-11-23T12:00:00.000Z');
      process.env.TZ = 'America/New_York';
      expect(normaliseTime('2026-11-23T12:00:00')).toBeUndefined();
      expect(normaliseTime('2026-11-23T12:00:00+00:00')).toBe('2026-11-23T12:00:00.000Z');
    } finally {
      process.env.TZ = previous;
      if (previous === undefined) delete process.env.TZ;
    }
  });
});

describe('logs', () => {
  it('no value of a body reaches a log line (an unknown type name is a value of the body)', async () => {
    const { logger, lines } = capturingLogger();
    const { run } = setup(logger);
    await run(
      queueMessage(JSON.stringify({ notification: { type: 'jane.doe@example.com +44 7700 900123' } })),
    );
    expect(lines.join('\n')).not.toContain('jane.doe@example.com');
  });
});
