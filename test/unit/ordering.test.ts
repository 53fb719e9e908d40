import { describe, expect, it } from 'vitest';
import { cancelWrite } from '#shared/aws/scheduling-store.ts';
import { mergeState, type StateWrite } from '#shared/contract/ordering.ts';
import { silentLogger } from '#shared/core/logger.ts';
import { processBatch, type WorkerDeps } from '#shared/notifications/apply.ts';
import { reconcileWrite } from '#shared/scheduling/reconcile.ts';
import { seededRandom } from '../sim/index.ts';
import { conferencingBody, eventTriggerBody, schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { MemoryStore } from '../support/memory-store.ts';
import { queueMessage } from '../support/messages.ts';

/** The ordering model (shared/contract/ordering.ts) through the worker, with the adapter's merge in memory. */

const ID = 'srq_d6f3f8165239d662963fc09b';
const SR = `scheduling_request#${ID}`;

function setup() {
  const store = new MemoryStore();
  const deps: WorkerDeps = {
    store,
    clock: () => new Date('2026-11-23T13:00:00.000Z'),
    logger: silentLogger,
    retentionDays: 90,
  };
  return {
    store,
    deps,
    run: (...messages: ReturnType<typeof queueMessage>[]) => processBatch(messages, deps),
  };
}

type Event = { start?: { time: string }; attendees?: { status: string }[] };
const attendeeStatus = (item: Record<string, unknown> | undefined) =>
  (item?.event as Event)?.attendees?.[0]?.status;
const startTime = (item: Record<string, unknown> | undefined) => (item?.event as Event)?.start?.time;

// time_chosen 10:00 → the attendee accepts at 12:00:05 → the reschedule of 12:00:00, delivered late.
const chosen = () =>
  queueMessage(
    schedulingRequestBody('scheduling_request_time_chosen', {
      triggeredAt: '2026-11-23T10:00:00Z',
      start: '2026-12-01T14:00:00Z',
      attendeeStatus: 'needs_action',
    }),
  );
const participantChange = () =>
  queueMessage(
    schedulingRequestBody('event_participant_status_changed', {
      triggeredAt: '2026-11-23T12:00:05Z',
      start: '2026-12-02T09:00:00Z',
      attendeeStatus: 'accepted',
    }),
  );
const reschedule = () =>
  queueMessage(
    schedulingRequestBody('scheduling_request_rescheduled', {
      triggeredAt: '2026-11-23T12:00:00Z',
      start: '2026-12-02T09:00:00Z',
      attendeeStatus: 'needs_action',
    }),
  );

describe('per-aspect ordering', () => {
  it.each([
    ['reschedule late', [chosen, participantChange, reschedule]],
    ['in order', [chosen, reschedule, participantChange]],
  ])('a reschedule and a participant change race (%s): each aspect ends at its newest', async (_, order) => {
    const { store, run } = setup();
    const messages = order.map((make) => make());
    for (const message of messages) expect(await run(message)).toEqual([]);
    const item = store.get(SR);
    expect(item).toMatchObject({
      status: 'rescheduled',
      triggered_at: '2026-11-23T12:00:00.000Z',
      participants_triggered_at: '2026-11-23T12:00:05.000Z',
    });
    expect(startTime(item)).toBe('2026-12-02T09:00:00Z');
    expect(attendeeStatus(item)).toBe('accepted');
    // The late reschedule changed something, so it is applied, not stale.
    const late = messages.at(-1);
    expect(store.get(`notification#${late?.key}`)?.status).toBe('applied');
  });

  it('the same race within one batch gives the same record', async () => {
    const { store, run } = setup();
    expect(await run(chosen(), participantChange(), reschedule())).toEqual([]);
    expect(store.get(SR)).toMatchObject({
      status: 'rescheduled',
      participants_triggered_at: '2026-11-23T12:00:05.000Z',
    });
    expect(attendeeStatus(store.get(SR))).toBe('accepted');
  });

  it('a notification older than every aspect it carries is stale and changes nothing', async () => {
    const { store, run } = setup();
    await run(reschedule(), participantChange());
    const before = structuredClone(store.get(SR));
    const old = chosen();
    await run(old);
    expect(store.get(SR)).toEqual(before);
    expect(store.get(`notification#${old.key}`)?.status).toBe('stale');
  });

  it('a notification without triggered_at is ordered by its receipt time among its kind, and the record shows no triggered_at', async () => {
    const { store, run } = setup();
    const untimed = (type: 'scheduling_request_time_chosen' | 'scheduling_request_declined', at: string) =>
      queueMessage(schedulingRequestBody(type, { start: '2026-12-01T14:00:00Z', tzid: at }), {
        receivedAt: new Date(at),
      });
    await run(untimed('scheduling_request_time_chosen', '2026-11-23T12:00:00.000Z'));
    const older = untimed('scheduling_request_declined', '2026-11-23T11:59:59.000Z');
    await run(older);
    expect(store.get(SR)?.status).toBe('time_chosen');
    expect(store.get(`notification#${older.key}`)?.status).toBe('stale');
    await run(untimed('scheduling_request_declined', '2026-11-23T12:30:00.000Z'));
    const item = store.get(SR);
    expect(item?.status).toBe('declined');
    expect(item).not.toHaveProperty('triggered_at');
    expect(item?.lifecycle_received_at).toBe('2026-11-23T12:30:00.000Z');
  });

  it('a receipt time ranks below a timed step: an untimed step received after it is stale, whatever the times', async () => {
    const { store, run } = setup();
    await run(reschedule()); // triggered 12:00:00
    const untimedNew = queueMessage(schedulingRequestBody('scheduling_request_declined'), {
      receivedAt: new Date('2026-11-23T12:30:00.000Z'),
    });
    await run(untimedNew);
    expect(store.get(SR)).toMatchObject({
      status: 'rescheduled',
      last_notification_type: 'scheduling_request_rescheduled',
      triggered_at: '2026-11-23T12:00:00.000Z',
    });
    expect(store.get(`notification#${untimedNew.key}`)?.status).toBe('stale');
  });

  it('a timed step and an untimed one end the same whichever arrives first', async () => {
    const results = [];
    for (const order of [0, 1]) {
      const { store, run } = setup();
      const timed = reschedule(); // triggered 12:00:00
      const untimed = queueMessage(
        schedulingRequestBody('scheduling_request_declined', { withEvent: false }),
        {
          receivedAt: new Date('2026-11-23T12:30:00.000Z'),
        },
      );
      for (const message of order === 0 ? [timed, untimed] : [untimed, timed]) await run(message);
      const { revision: _r, updated_at: _u, lifecycle_untimed: _l, ...rest } = store.get(SR) ?? {};
      results.push(rest);
    }
    expect(results[0]).toMatchObject({ status: 'rescheduled' });
    expect(results[1]).toEqual(results[0]);
  });

  it('equal times apply in arrival order, and a duplicate of the earlier one afterwards changes nothing', async () => {
    const { store, run } = setup();
    const at = '2026-11-23T12:00:00Z';
    const first = queueMessage(schedulingRequestBody('scheduling_request_time_chosen', { triggeredAt: at }));
    const second = queueMessage(schedulingRequestBody('scheduling_request_rescheduled', { triggeredAt: at }));
    await run(first, second);
    expect(store.get(SR)?.status).toBe('rescheduled');
    const changes = store.changes;
    await run(first);
    await run(second);
    expect(store.get(SR)?.status).toBe('rescheduled');
    expect(store.changes).toBe(changes);
  });

  it('conferencing is ordered on the event record', async () => {
    const { store, run } = setup();
    await run(
      queueMessage(conferencingBody('conferencing_failing', { triggeredAt: '2026-11-23T12:00:10Z' })),
    );
    await run(
      queueMessage(conferencingBody('conferencing_assigned', { triggeredAt: '2026-11-23T12:00:00Z' })),
    );
    expect(store.get('event#qTtZdczOccgaPncGJaCiLg')).toMatchObject({
      conferencing: { status: 'failing' },
      triggered_at: '2026-11-23T12:00:10.000Z',
    });
  });
});

describe('values a newer step leaves out', () => {
  // time_chosen 10:00 (1 Dec) → rescheduled 11:00 (2 Dec) → declined 12:00, sent without an event.
  const declined = () =>
    queueMessage(
      schedulingRequestBody('scheduling_request_declined', {
        triggeredAt: '2026-11-23T12:00:00Z',
        withEvent: false,
      }),
    );
  const moved = () =>
    queueMessage(
      schedulingRequestBody('scheduling_request_rescheduled', {
        triggeredAt: '2026-11-23T11:00:00Z',
        start: '2026-12-02T09:00:00Z',
      }),
    );

  it.each([
    ['in order', [chosen, moved, declined]],
    ['the reschedule late', [chosen, declined, moved]],
    ['the reschedule first, the decline last', [moved, chosen, declined]],
    ['the decline first', [declined, chosen, moved]],
  ])('end the same whatever the order of arrival (%s)', async (_, order) => {
    const { store, run } = setup();
    const messages = order.map((make) => make());
    for (const message of messages) expect(await run(message)).toEqual([]);
    expect(store.get(SR)).toMatchObject({
      status: 'declined',
      triggered_at: '2026-11-23T12:00:00.000Z',
      last_notification_type: 'scheduling_request_declined',
    });
    expect(startTime(store.get(SR))).toBe('2026-12-02T09:00:00Z');
    for (const message of messages)
      expect(store.get(`notification#${message.key}`)?.status).toMatch(/^(applied|stale)$/);
  });

  it('a late step applies only the values newer than the record shows, once', async () => {
    const { store, run } = setup();
    await run(chosen(), declined());
    const late = moved();
    expect(await run(late)).toEqual([]);
    expect(store.get(`notification#${late.key}`)?.status).toBe('applied');
    const after = structuredClone(store.get(SR));
    // A redelivery that missed its notification record (a crash between the writes) changes nothing.
    store.items.delete(`notification#${late.key}`);
    expect(await run(late)).toEqual([]);
    expect(store.get(SR)).toEqual(after);
    // An older step still is stale for the values it sends too.
    const older = queueMessage(
      schedulingRequestBody('scheduling_request_rescheduled', {
        triggeredAt: '2026-11-23T10:30:00Z',
        start: '2026-12-04T09:00:00Z',
      }),
    );
    expect(await run(older)).toEqual([]);
    expect(startTime(store.get(SR))).toBe('2026-12-02T09:00:00Z');
    expect(store.get(`notification#${older.key}`)?.status).toBe('stale');
  });

  it("the correlation id is the metadata's: metadata sent without one shows none, whatever the order", async () => {
    // time_chosen 10:00 with a correlation id → rescheduled 11:00 whose metadata has none → declined 12:00 without
    // an event: the record shows the reschedule's metadata, and no correlation id, in any order of arrival.
    const correlated = () =>
      queueMessage(
        schedulingRequestBody('scheduling_request_time_chosen', {
          triggeredAt: '2026-11-23T10:00:00Z',
          correlationId: 'CAND-1',
        }),
      );
    for (const order of [
      [correlated, moved, declined],
      [correlated, declined, moved],
      [declined, moved, correlated],
    ]) {
      const { store, run } = setup();
      for (const make of order) expect(await run(make())).toEqual([]);
      expect(store.get(SR)?.metadata).toMatchObject({ utm_source: 'ats' });
      expect(store.get(SR)?.correlation_id).toBeUndefined();
    }
  });

  it('two late steps of one second apply to the values a newer step left out in arrival order', async () => {
    // Two reschedules of 11:00 (a first, b after it), and the decline of 12:00 delivered between them: b's time
    // shows, as when the decline comes last; each once.
    const a = moved();
    const b = queueMessage(
      schedulingRequestBody('scheduling_request_rescheduled', {
        triggeredAt: '2026-11-23T11:00:00Z',
        start: '2026-12-03T09:00:00Z',
      }),
    );
    for (const order of [
      [chosen(), a, b, declined()],
      [chosen(), a, declined(), b],
      [declined(), a, b],
    ]) {
      const { store, run } = setup();
      for (const message of order) expect(await run(message)).toEqual([]);
      expect(store.get(SR)?.status).toBe('declined');
      expect(startTime(store.get(SR))).toBe('2026-12-03T09:00:00Z');
      for (const message of [a, b]) expect(store.get(`notification#${message.key}`)?.status).toBe('applied');
      // b delivered again (its notification record not yet written) changes nothing.
      const after = structuredClone(store.get(SR));
      store.items.delete(`notification#${b.key}`);
      expect(await run(b)).toEqual([]);
      expect(store.get(SR)).toEqual(after);
    }
  });

  it('a step without triggered_at applies its values once, however often it is delivered', async () => {
    const { store, run } = setup();
    await run(declined());
    const untimed = schedulingRequestBody('scheduling_request_rescheduled', {
      start: '2026-12-05T09:00:00Z',
    });
    const first = queueMessage(untimed, { receivedAt: new Date('2026-11-23T12:05:00Z') });
    expect(await run(first)).toEqual([]);
    expect(startTime(store.get(SR))).toBe('2026-12-05T09:00:00Z');
    expect(store.get(SR)?.status).toBe('declined');
    const other = queueMessage(
      schedulingRequestBody('scheduling_request_rescheduled', { start: '2026-12-06T09:00:00Z' }),
      { receivedAt: new Date('2026-11-23T12:06:00Z') },
    );
    expect(await run(other)).toEqual([]);
    const after = structuredClone(store.get(SR));
    store.items.delete(`notification#${first.key}`);
    const again = queueMessage(untimed, { receivedAt: new Date('2026-11-23T12:07:00Z') });
    expect(await run(again)).toEqual([]);
    expect(store.get(SR)).toEqual(after);
    expect(startTime(store.get(SR))).toBe('2026-12-06T09:00:00Z');
  });
});

describe('participants a newer change leaves out', () => {
  // Cronofy's event_participant_status_changed lists the attendees, not always the host (its documented example
  // has none): time_chosen 10:00 (host accepted) → rescheduled 11:00 (host tentative) → an attendee accepts 12:00.
  const hostStatus = (item: Record<string, unknown> | undefined) =>
    ((item?.event as { host?: { status: string } })?.host as { status: string } | undefined)?.status;
  const chosenWithHost = () =>
    queueMessage(
      schedulingRequestBody('scheduling_request_time_chosen', {
        triggeredAt: '2026-11-23T10:00:00Z',
        hostStatus: 'accepted',
      }),
    );
  const movedWithHost = () =>
    queueMessage(
      schedulingRequestBody('scheduling_request_rescheduled', {
        triggeredAt: '2026-11-23T11:00:00Z',
        hostStatus: 'tentative',
      }),
    );
  const attendeesOnly = () => {
    const body = JSON.parse(
      schedulingRequestBody('event_participant_status_changed', {
        triggeredAt: '2026-11-23T12:00:00Z',
        attendeeStatus: 'accepted',
      }),
    );
    delete body.scheduling_request.event.host;
    return queueMessage(JSON.stringify(body));
  };

  it.each([
    ['in order', [chosenWithHost, movedWithHost, attendeesOnly]],
    ['the reschedule late', [chosenWithHost, attendeesOnly, movedWithHost]],
  ])('end the same whatever the order of arrival (%s)', async (_, order) => {
    const { store, run } = setup();
    for (const make of order) expect(await run(make())).toEqual([]);
    expect(store.get(SR)).toMatchObject({ participants_triggered_at: '2026-11-23T12:00:00.000Z' });
    expect(hostStatus(store.get(SR))).toBe('tentative');
    expect(attendeeStatus(store.get(SR))).toBe('accepted');
  });
});

describe('the order of arrival', () => {
  const TYPES = [
    'scheduling_request_time_chosen',
    'scheduling_request_rescheduled',
    'event_participant_status_changed',
    'scheduling_request_declined',
    'scheduling_request_no_times_available',
    'scheduling_request_more_times_requested',
    'event_start',
  ] as const;
  /** What a reader sees of the record: the bookkeeping and the write itself left out. */
  const visible = (item: Record<string, unknown> | undefined) =>
    Object.fromEntries(
      Object.entries(item ?? {}).filter(
        ([name]) =>
          !/(_as_of|_received_at|_applied|_untimed)$/.test(name) &&
          !['revision', 'updated_at'].includes(name),
      ),
    );

  it('does not change the end state, over 150 random sets of steps at distinct times, some redelivered', async () => {
    const random = seededRandom(20261207);
    for (let set = 0; set < 150; set++) {
      const seconds = new Set<number>();
      const messages = Array.from({ length: random.int(2, 6) }, () => {
        let second: number;
        do second = random.int(0, 50);
        while (seconds.has(second));
        seconds.add(second);
        const body = schedulingRequestBody(random.pick([...TYPES]), {
          ...(random.chance(0.7)
            ? { triggeredAt: `2026-11-23T12:00:${String(second).padStart(2, '0')}Z` }
            : {}),
          start: `2026-12-0${random.int(1, 9)}T10:00:00Z`,
          attendeeStatus: random.pick(['accepted', 'declined']),
          tzid: random.pick(['Europe/Paris', 'Asia/Tokyo']),
          hostStatus: random.pick(['accepted', 'tentative']),
          ...(random.chance(0.3) ? { withEvent: random.chance(0.5) } : {}),
          // The metadata group: its values differ, and the correlation id is in it or not.
          correlationId: random.pick(['corr_1', 'corr_2', undefined]),
          capturedData: { 'captured_data.answer': String(second) },
        });
        // Some list the attendees without the host (as Cronofy's participant change example does), some the host
        // without the attendees; some send an event without its metadata, or without its times.
        const json = JSON.parse(body);
        const event = json.scheduling_request.event;
        if (event && random.chance(0.3)) delete event.host;
        else if (event && random.chance(0.2)) delete event.attendees;
        if (event && random.chance(0.2)) delete event.metadata;
        if (event && random.chance(0.2)) for (const field of ['start', 'end', 'summary']) delete event[field];
        // A distinct receipt time each, as ingest gives: the order the worker sees them in is another matter.
        return queueMessage(JSON.stringify(json), {
          receivedAt: new Date(Date.parse('2026-11-23T12:01:00Z') + second * 1000),
        });
      });
      const endState = async (order: typeof messages, redeliver: boolean) => {
        const { store, run } = setup();
        for (const message of order) {
          expect(await run(message)).toEqual([]);
          if (!redeliver || !random.chance(0.3)) continue;
          // Redelivered after a crash before its notification record: only the state record can tell.
          store.items.delete(`notification#${message.key}`);
          expect(await run(message)).toEqual([]);
        }
        return visible(store.get(SR));
      };
      const inOrder = await endState(messages, false);
      const shuffled = [...messages]
        .map((message) => ({ message, rank: random.int(0, 1000) }))
        .sort((a, b) => a.rank - b.rank)
        .map(({ message }) => message);
      expect(await endState(shuffled, true)).toEqual(inOrder);
    }
  });
});

describe('replays', () => {
  it.each([
    [
      'time chosen',
      () => schedulingRequestBody('scheduling_request_time_chosen', { triggeredAt: '2026-11-23T10:00:00Z' }),
    ],
    ['participant change', () => schedulingRequestBody('event_participant_status_changed')],
    ['declined (no triggered_at)', () => schedulingRequestBody('scheduling_request_declined')],
    ['conferencing', () => conferencingBody('conferencing_assigned')],
    ['event trigger', () => eventTriggerBody({ before: 'event_start', offset: { minutes: 5 } })],
    ['unknown type', () => '{"notification":{"type":"brand_new"}}'],
    ['not JSON', () => 'not json'],
  ])('a signed %s body replayed under fresh header ids has no further effect', async (_, body) => {
    const { store, run } = setup();
    const original = queueMessage(body(), { notificationId: 'ntf_original' });
    await run(original);
    const changes = store.changes;
    const items = structuredClone([...store.items.entries()]);
    for (let i = 0; i < 3; i++) {
      const replay = queueMessage(body(), {
        notificationId: `ntf_attacker_${i}`,
        receivedAt: new Date(Date.parse('2026-11-23T12:00:00Z') + i * 60_000),
      });
      expect(replay.key).toBe(original.key);
      expect(await run(replay)).toEqual([]);
    }
    expect(store.changes).toBe(changes);
    expect([...store.items.entries()]).toEqual(items);
    expect(store.get(`notification#${original.key}`)?.cronofy_notification_id).toBe('ntf_original');
  });

  it('a body without triggered_at, a newer notification and the same body again in one batch: applied once', async () => {
    const { store, run } = setup();
    const at = (seconds: number) => ({
      receivedAt: new Date(Date.parse('2026-11-23T12:00:00Z') + seconds * 1000),
    });
    const declined = schedulingRequestBody('scheduling_request_declined', { withEvent: false });
    const first = queueMessage(declined, at(0));
    const newer = queueMessage(
      schedulingRequestBody('scheduling_request_rescheduled', { withEvent: false }),
      at(1),
    );
    const replay = queueMessage(declined, { ...at(2), notificationId: 'ntf_attacker' });
    expect(await run(first, newer, replay)).toEqual([]);
    // Received last, the replay would otherwise order after the reschedule and apply again.
    expect(store.get(SR)).toMatchObject({
      status: 'rescheduled',
      lifecycle_received_at: '2026-11-23T12:00:01.000Z',
      revision: 2,
    });
    expect(store.get(`notification#${first.key}`)).toMatchObject({
      status: 'applied',
      received_at: '2026-11-23T12:00:00.000Z',
    });
  });

  // A body without triggered_at is ordered by its receipt time; delivered again in another batch before its
  // first delivery's notification record exists, after a newer notification of the same record, it is
  // recognised by the aspect's list of recent untimed keys.
  it('a body without triggered_at, delivered again in another batch before the first records it, after a newer one, changes nothing', async () => {
    const { store, deps } = setup();
    const at = (seconds: number) => ({
      receivedAt: new Date(Date.parse('2026-11-23T12:00:00Z') + seconds * 1000),
    });
    const declined = schedulingRequestBody('scheduling_request_declined', { withEvent: false });
    let release = () => {};
    const recorded = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The first batch applies the body, then waits before writing its notification record.
    const slow: WorkerDeps = {
      ...deps,
      store: {
        applyState: (write) => store.applyState(write),
        putEventTrigger: (pk, record) => store.putEventTrigger(pk, record),
        notificationStatuses: (ids) => store.notificationStatuses(ids),
        putNotifications: async (records) => {
          await recorded;
          return store.putNotifications(records);
        },
      },
    };
    const first = processBatch([queueMessage(declined, at(0))], slow);
    while (store.get(SR)?.status !== 'declined') await new Promise((resolve) => setTimeout(resolve, 1));
    const newer = schedulingRequestBody('scheduling_request_rescheduled', { withEvent: false });
    expect(await processBatch([queueMessage(newer, at(1)), queueMessage(declined, at(2))], deps)).toEqual([]);
    release();
    expect(await first).toEqual([]);
    expect(store.get(SR)).toMatchObject({ status: 'rescheduled', revision: 2 });
  });

  it('an Event Trigger sent again as a different body for the same event times is one record', async () => {
    const { store, run } = setup();
    await run(queueMessage(eventTriggerBody({ before: 'event_start', offset: { minutes: 60 } })));
    await run(queueMessage(eventTriggerBody({ before: 'event_start', offset: { hours: 1 } })));
    const triggers = [...store.items.keys()].filter((pk) => pk.startsWith('event_trigger#'));
    expect(triggers).toHaveLength(1);
  });
});

describe('bounded records', () => {
  it('a record that receives 10,000 notifications stays the same size', async () => {
    const { store, run } = setup();
    const sizes: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const at = new Date(Date.parse('2026-11-23T00:00:00Z') + i * 1000).toISOString().replace('.000', '');
      const type = i % 2 === 0 ? 'scheduling_request_rescheduled' : 'event_participant_status_changed';
      await run(
        queueMessage(schedulingRequestBody(type, { triggeredAt: at, start: '2026-12-01T14:00:00Z' })),
      );
      if (i === 1 || i === 999 || i === 9_999) {
        const { revision: _revision, updated_at: _updated, ...rest } = store.get(SR) ?? {};
        sizes.push(JSON.stringify(rest).length);
      }
    }
    expect(new Set(sizes).size).toBe(1);
    expect(store.get(SR)?.revision).toBe(10_000);
  });
});

describe('records of the previous version', () => {
  const legacy = {
    pk: SR,
    entity: 'scheduling_request',
    scheduling_request_id: 'srq_d6f3f8165239d662963fc09b',
    status: 'rescheduled',
    triggered_at: '2026-11-23T12:00:00.000Z',
    updated_at: '2026-11-23T12:00:01.000Z',
    last_notification_type: 'scheduling_request_rescheduled',
    applied_notifications: ['ntf_a', 'sha256:abc'],
  };
  const write = (key: string, at: string): StateWrite => ({
    pk: SR,
    key,
    at,
    triggeredAt: at,
    common: { entity: 'scheduling_request', updated_at: 'now' },
    aspects: [{ aspect: 'lifecycle', set: { status: 'declined' } }],
  });

  it('keep their single clock for every aspect, lose the unbounded list, and still deduplicate', () => {
    expect(mergeState(legacy, write('sha256:abc', '2026-11-23T13:00:00.000Z')).outcome).toBe(
      'already_applied',
    );
    expect(mergeState(legacy, write('sha256:new', '2026-11-23T11:00:00.000Z')).outcome).toBe('stale');
    const merged = mergeState(legacy, write('sha256:new', '2026-11-23T13:00:00.000Z'));
    expect(merged.outcome).toBe('applied');
    expect(merged.item).not.toHaveProperty('applied_notifications');
    expect(merged.item).toMatchObject({
      status: 'declined',
      triggered_at: '2026-11-23T13:00:00.000Z',
      lifecycle_applied: ['new'],
      participants_triggered_at: '2026-11-23T12:00:00.000Z',
      revision: 1,
    });
  });
});

describe('a reconciliation read, then the steps it could not show, delivered late', () => {
  const READ_AT = '2026-11-23T12:30:00.000Z';
  // Cronofy's query answer after the candidate booked (10:00) and moved (11:00): the new times, no step.
  const answer = {
    scheduling_request_id: ID,
    slot_selection: 'complete',
    event: {
      start: { time: '2026-12-05T09:00:00Z', tzid: 'Etc/UTC' },
      end: { time: '2026-12-05T09:30:00Z', tzid: 'Etc/UTC' },
      attendees: [{ email: 'candidate@example.com', status: 'accepted' }],
    },
  };
  const step = (type: Parameters<typeof schedulingRequestBody>[0], triggeredAt: string, start?: string) =>
    queueMessage(schedulingRequestBody(type, { triggeredAt, ...(start ? { start } : {}) }));

  async function reconciled() {
    const t = setup();
    t.store.items.set(SR, {
      pk: SR,
      entity: 'scheduling_request',
      scheduling_request_id: ID,
      status: 'pending',
    });
    const write = reconcileWrite(answer, t.store.get(SR), READ_AT, READ_AT);
    expect(await t.store.applyState(write as StateWrite)).toBe('applied');
    expect(t.store.get(SR)).toMatchObject({
      status: 'time_chosen',
      status_as_of: '1970-01-01T00:00:00.000Z',
    });
    return t;
  }

  it('applies each later-delivered step to the status, never to the values the read showed', async () => {
    const { store, run } = await reconciled();
    expect(
      await run(step('scheduling_request_time_chosen', '2026-11-23T10:00:00Z', '2026-12-01T14:00:00Z')),
    ).toEqual([]);
    expect(
      await run(step('scheduling_request_rescheduled', '2026-11-23T11:00:00Z', '2026-12-03T14:00:00Z')),
    ).toEqual([]);
    expect(store.get(SR)).toMatchObject({
      status: 'rescheduled',
      last_notification_type: 'scheduling_request_rescheduled',
      status_as_of: '2026-11-23T11:00:00.000Z',
      lifecycle_as_of: READ_AT,
      event: { start: { time: '2026-12-05T09:00:00Z' } },
    });
    expect(store.get(`notification#${(await notificationKeys(store))[0]}`)?.status).toBe('applied');

    // A decline triggered before the read: the request is final, out of the open-requests index.
    expect(await run(step('scheduling_request_declined', '2026-11-23T12:00:00Z'))).toEqual([]);
    expect(store.get(SR)).toMatchObject({
      status: 'declined',
      event: { start: { time: '2026-12-05T09:00:00Z' } },
    });
    expect(store.get(SR)).not.toHaveProperty('open_bucket');

    // Older than the step the status shows: stale, and a replay changes nothing.
    const changes = store.changes;
    expect(
      await run(step('scheduling_request_time_chosen', '2026-11-23T10:00:00Z', '2026-12-01T14:00:00Z')),
    ).toEqual([]);
    expect(await run(step('scheduling_request_rescheduled', '2026-11-23T11:30:00Z'))).toEqual([]);
    expect(store.get(SR)?.status).toBe('declined');
    expect(store.changes).toBe(changes + 1); // the stale notification's own record only
  });

  it('a participant change older than the read: the attendees the read showed stay, the host it did not is taken', async () => {
    const { store, run } = await reconciled();
    const before = structuredClone(store.get(SR));
    const change = step('event_participant_status_changed', '2026-11-23T12:00:00Z');
    expect(await run(change)).toEqual([]);
    const after = structuredClone(store.get(SR));
    expect(after?.event).toMatchObject({
      attendees: answer.event.attendees,
      host: { email: 'host@example.com', status: 'accepted' },
    });
    expect(after?.participants_as_of).toBe(before?.participants_as_of);
    expect(after?.participants_triggered_at).toBeUndefined();
    // Delivered again after a crash before its notification record: it changes nothing.
    store.items.delete(`notification#${change.key}`);
    expect(await run(change)).toEqual([]);
    expect(store.get(SR)).toEqual(after);
  });

  it('two late steps at the same time apply in arrival order, each once', async () => {
    const { store, run } = await reconciled();
    const rescheduled = step('scheduling_request_rescheduled', '2026-11-23T11:00:00Z');
    const declined = step('scheduling_request_declined', '2026-11-23T11:00:00Z');
    expect(await run(rescheduled)).toEqual([]);
    expect(await run(declined)).toEqual([]);
    const after = store.get(SR);
    expect(after).toMatchObject({
      status: 'declined',
      last_notification_type: 'scheduling_request_declined',
    });
    // Delivered again before their notification records exist: nothing changes.
    store.items.delete(`notification#${rescheduled.key}`);
    store.items.delete(`notification#${declined.key}`);
    expect(await run(rescheduled)).toEqual([]);
    expect(store.get(SR)).toEqual(after);
  });

  it('the step whose time the read kept, delivered again after the read, changes nothing', async () => {
    const t = setup();
    const booked = step('scheduling_request_time_chosen', '2026-11-23T10:00:00Z', '2026-12-01T14:00:00Z');
    expect(await t.run(booked)).toEqual([]);
    const write = reconcileWrite(answer, t.store.get(SR), READ_AT, READ_AT);
    expect(await t.store.applyState(write as StateWrite)).toBe('applied');
    expect(t.store.get(SR)).toMatchObject({ status_as_of: '2026-11-23T10:00:00.000Z' });
    const after = t.store.get(SR);
    t.store.items.delete(`notification#${booked.key}`);
    expect(await t.run(booked)).toEqual([]);
    expect(t.store.get(SR)).toEqual(after);
  });

  it('a step without triggered_at, delivered again before its notification record exists, applies once', async () => {
    // Cronofy delivered the body twice (its first answer was lost): the second delivery's batch looked for the
    // notification record before the first delivery's worker wrote it, so only the state record can tell.
    for (const againAt of ['2026-11-23T12:20:00Z', '2026-11-23T12:40:00Z']) {
      const { store, run } = await reconciled();
      const body = schedulingRequestBody('scheduling_request_declined', { start: '2026-12-01T14:00:00Z' });
      const first = queueMessage(body, { receivedAt: new Date('2026-11-23T12:10:00Z') });
      expect(await run(first)).toEqual([]);
      const after = store.get(SR);
      expect(after).toMatchObject({ status: 'declined', event: { start: { time: '2026-12-05T09:00:00Z' } } });
      store.items.delete(`notification#${first.key}`);
      expect(await run(queueMessage(body, { receivedAt: new Date(againAt) }))).toEqual([]);
      expect(store.get(SR)).toEqual(after);
    }
  });

  it("a cancel timed before the read (the read's clock ran ahead) records its cancelled_at with the status", async () => {
    const { store } = await reconciled();
    const cancel = (at: string) => cancelWrite(ID, at);
    expect(await store.applyState(cancel('2026-11-23T12:29:59.900Z'))).toBe('applied');
    expect(store.get(SR)).toMatchObject({ status: 'cancelled', cancelled_at: '2026-11-23T12:29:59.900Z' });
    expect(store.get(SR)).not.toHaveProperty('open_bucket');
  });

  it('a notification newer than the read applies whole and ends the mark', async () => {
    const { store, run } = await reconciled();
    expect(
      await run(step('scheduling_request_rescheduled', '2026-11-23T13:00:00Z', '2026-12-07T14:00:00Z')),
    ).toEqual([]);
    expect(store.get(SR)).toMatchObject({
      status: 'rescheduled',
      triggered_at: '2026-11-23T13:00:00.000Z',
      event: { start: { time: '2026-12-07T14:00:00Z' } },
    });
    expect(store.get(SR)).not.toHaveProperty('status_as_of');
    expect(store.get(SR)).not.toHaveProperty('lifecycle_as_of');
  });
});

describe('a cancel through the API, and what may follow it', () => {
  const CANCELLED_AT = '2026-11-23T12:00:00.000Z';
  /** The cancel route's write: a real time, not a receipt time. */
  const cancel = cancelWrite(ID, CANCELLED_AT);
  async function cancelled() {
    const t = setup();
    await t.run(
      queueMessage(
        schedulingRequestBody('scheduling_request_time_chosen', {
          triggeredAt: '2026-11-23T10:00:00Z',
          end: '2026-12-01T14:30:00Z',
        }),
      ),
    );
    expect(await t.store.applyState(cancel)).toBe('applied');
    return t;
  }

  it('an untimed step received after the cancel leaves it cancelled, out of the open index', async () => {
    const { store, run } = await cancelled();
    const before = store.get(SR);
    const late = queueMessage(schedulingRequestBody('scheduling_request_more_times_requested'), {
      receivedAt: new Date('2026-11-23T12:05:00.000Z'),
    });
    expect(await run(late)).toEqual([]);
    expect(store.get(`notification#${late.key}`)?.status).toBe('stale');
    expect(store.get(SR)).toEqual(before);
    expect(store.get(SR)).toMatchObject({ status: 'cancelled', cancelled_at: CANCELLED_AT });
    expect(store.get(SR)).not.toHaveProperty('open_until');
    expect(store.get(SR)).not.toHaveProperty('last_notification_type');
  });

  it('a request created through the API, cancelled, then its booking delivered late: no lifecycle value fills in', async () => {
    // The cancel shows no event, metadata or time zone, and counts as showing them all: an older step (untimed and
    // received after the cancel, or timed before it) fills none in and its status never applies.
    for (const late of [
      queueMessage(schedulingRequestBody('scheduling_request_time_chosen'), {
        receivedAt: new Date('2026-11-23T12:05:00.000Z'),
      }),
      queueMessage(
        schedulingRequestBody('scheduling_request_time_chosen', { triggeredAt: '2026-11-23T11:59:00Z' }),
      ),
    ]) {
      const { store, run } = setup();
      store.items.set(SR, {
        pk: SR,
        entity: 'scheduling_request',
        scheduling_request_id: ID,
        status: 'pending',
        open_bucket: 'open',
        open_until: '9999-12-31T23:59:59.999Z',
        updated_at: '2026-11-23T11:00:00.000Z',
        revision: 1,
      });
      expect(await store.applyState(cancel)).toBe('applied');
      const cancelled = structuredClone(store.get(SR));
      expect(cancelled).not.toHaveProperty('lifecycle_values_as_of');
      expect(await run(late)).toEqual([]);
      // Only its participants apply (an aspect of their own, which the cancel does not show).
      expect(store.get(`notification#${late.key}`)?.status).toBe('applied');
      const item = store.get(SR);
      expect(item).toMatchObject({ status: 'cancelled', cancelled_at: CANCELLED_AT });
      for (const field of [
        'recipient_tzid',
        'metadata',
        'correlation_id',
        'open_bucket',
        'last_notification_type',
      ])
        expect(item).not.toHaveProperty(field);
      expect(startTime(item)).toBeUndefined();
      expect(item?.triggered_at).toBe(cancelled?.triggered_at);
    }
  });

  it('a timed step newer than the cancel ends it: no cancelled_at, and the horizon is the known event end', async () => {
    const { store, run } = await cancelled();
    const newer = queueMessage(
      schedulingRequestBody('scheduling_request_more_times_requested', {
        triggeredAt: '2026-11-23T12:05:00Z',
      }),
    );
    expect(await run(newer)).toEqual([]);
    const item = store.get(SR);
    expect(item).toMatchObject({
      status: 'more_times_requested',
      last_notification_type: 'scheduling_request_more_times_requested',
      open_bucket: 'open',
      open_until: '2026-12-01T14:30:00.000Z',
    });
    expect(item).not.toHaveProperty('cancelled_at');
  });

  it('a repeated cancel writes nothing', async () => {
    const { store } = await cancelled();
    const changes = store.changes;
    expect(await store.applyState(cancel)).toBe('already_applied');
    expect(store.changes).toBe(changes);
  });
});

describe('last_notification_type', () => {
  it('names the step status shows, not a late notification whose participants alone applied', async () => {
    const { store, run } = setup();
    await run(
      queueMessage(
        schedulingRequestBody('scheduling_request_declined', {
          triggeredAt: '2026-11-23T12:00:00Z',
          withEvent: false,
        }),
      ),
    );
    const late = queueMessage(
      schedulingRequestBody('scheduling_request_rescheduled', { triggeredAt: '2026-11-23T11:00:00Z' }),
    );
    expect(await run(late)).toEqual([]);
    expect(store.get(`notification#${late.key}`)?.status).toBe('applied');
    expect(attendeeStatus(store.get(SR))).toBe('accepted');
    expect(store.get(SR)).toMatchObject({
      status: 'declined',
      last_notification_type: 'scheduling_request_declined',
    });
  });

  it('is not set by participant changes alone', async () => {
    const { store, run } = setup();
    await run(participantChange());
    expect(store.get(SR)).not.toHaveProperty('last_notification_type');
    expect(store.get(SR)).not.toHaveProperty('status');
  });
});

describe('no-op writes are no writes', () => {
  it('a same-meaning body in other bytes at the same time changes nothing on the record', async () => {
    const { store, run } = setup();
    const body = schedulingRequestBody('scheduling_request_time_chosen', {
      triggeredAt: '2026-11-23T12:00:00Z',
    });
    await run(queueMessage(body));
    const before = store.get(SR);
    const changes = store.changes;
    const same = queueMessage(` ${body}\n`);
    expect(await run(same)).toEqual([]);
    expect(store.get(SR)).toBe(before);
    // Only its own notification record is written.
    expect(store.changes).toBe(changes + 1);
    expect(store.get(`notification#${same.key}`)?.status).toBe('applied');
  });

  it('a conferencing notification in other bytes at the same time changes nothing on the event', async () => {
    const { store, run } = setup();
    const body = conferencingBody('conferencing_assigned', { triggeredAt: '2026-11-23T12:00:00Z' });
    await run(queueMessage(body));
    const changes = store.changes;
    expect(await run(queueMessage(JSON.stringify(JSON.parse(body), null, 2)))).toEqual([]);
    expect(store.changes).toBe(changes + 1);
  });
});

async function notificationKeys(store: MemoryStore): Promise<string[]> {
  return [...store.items.keys()].filter((pk) => pk.startsWith('notification#')).map((pk) => pk.slice(13));
}
