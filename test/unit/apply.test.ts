import { describe, expect, it } from 'vitest';
import { appliedKey } from '#shared/contract/ordering.ts';
import { silentLogger } from '#shared/core/logger.ts';
import { StorageRejectedError } from '#shared/core/ports.ts';
import { processBatch, TRIGGER_WRITES_IN_FLIGHT, type WorkerDeps } from '#shared/notifications/apply.ts';
import { schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { MemoryStore } from '../support/memory-store.ts';
import { queueMessage } from '../support/messages.ts';

function setup() {
  const store = new MemoryStore();
  const deps: WorkerDeps = {
    store,
    clock: () => new Date('2026-11-23T10:00:05.000Z'),
    logger: silentLogger,
    retentionDays: 90,
  };
  return { store, deps };
}

const SR = 'scheduling_request#srq_d6f3f8165239d662963fc09b';

describe('processing a batch', () => {
  it('applies a notification once, however often it is delivered', async () => {
    const { store, deps } = setup();
    const message = queueMessage(schedulingRequestBody('scheduling_request_time_chosen'));
    expect(await processBatch([message, message], deps)).toEqual([]);
    expect(await processBatch([message], deps)).toEqual([]);
    expect(store.changes).toBe(2); // the scheduling request and the notification record, once each
    expect(store.get(SR)?.lifecycle_applied).toEqual([appliedKey(message.key)]);
    expect(store.get(`notification#${message.key}`)?.status).toBe('applied');
  });

  it('keeps newer state when an older notification arrives late', async () => {
    const { store, deps } = setup();
    const newer = queueMessage(
      schedulingRequestBody('scheduling_request_rescheduled', {
        triggeredAt: '2026-11-23T09:00:10Z',
        start: '2026-12-02T10:00:00Z',
      }),
    );
    const older = queueMessage(
      schedulingRequestBody('scheduling_request_time_chosen', { triggeredAt: '2026-11-23T09:00:00Z' }),
    );
    await processBatch([newer], deps);
    await processBatch([older], deps);
    expect(store.get(SR)).toMatchObject({ status: 'rescheduled', triggered_at: '2026-11-23T09:00:10.000Z' });
    expect(store.get(`notification#${older.key}`)?.status).toBe('stale');
  });

  it('applies equal triggered_at values in arrival order', async () => {
    const { store, deps } = setup();
    const first = queueMessage(
      schedulingRequestBody('scheduling_request_time_chosen', { triggeredAt: '2026-11-23T09:00:00Z' }),
    );
    const second = queueMessage(
      schedulingRequestBody('scheduling_request_rescheduled', { triggeredAt: '2026-11-23T09:00:00Z' }),
    );
    await processBatch([first, second], deps);
    expect(store.get(SR)?.status).toBe('rescheduled');
  });

  it('reports a transient failure for retry, and the retry applies it once', async () => {
    const { store, deps } = setup();
    const message = queueMessage(schedulingRequestBody('scheduling_request_time_chosen'));
    const throttled = Object.assign(new Error('throttled'), {
      name: 'ProvisionedThroughputExceededException',
    });
    store.failNext.push(throttled);
    expect(await processBatch([message], deps)).toEqual([message.messageId]);
    expect(store.items.size).toBe(0);
    expect(await processBatch([message], deps)).toEqual([]);
    expect(store.get(SR)?.status).toBe('time_chosen');
  });

  it('repairs a crash between applying the state and recording the notification', async () => {
    const { store, deps } = setup();
    const message = queueMessage(schedulingRequestBody('scheduling_request_time_chosen'));
    // The state write succeeds, then the notification write fails (the process "dies").
    const original = store.putNotifications.bind(store);
    store.putNotifications = async () => {
      throw new Error('crash');
    };
    await expect(processBatch([message], deps)).rejects.toThrow('crash');
    store.putNotifications = original;
    expect(await processBatch([message], deps)).toEqual([]);
    expect(store.get(`notification#${message.key}`)?.status).toBe('applied');
    expect(store.get(SR)?.lifecycle_applied).toEqual([appliedKey(message.key)]);
    expect(store.changes).toBe(2);
  });

  it('retries only the messages whose notification record could not be written', async () => {
    const { store, deps } = setup();
    const failing = queueMessage(schedulingRequestBody('scheduling_request_time_chosen'));
    const fine = queueMessage(
      schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: 'srq_fine' }),
    );
    const original = store.putNotifications.bind(store);
    store.putNotifications = async (records) => {
      const results = await original(records.filter((r) => r.notification_id !== failing.key));
      return records.map((r) =>
        r.notification_id === failing.key
          ? new Error('ProvisionedThroughputExceeded')
          : (results.shift() ?? 'exists'),
      );
    };
    expect(await processBatch([failing, fine], deps)).toEqual([failing.messageId]);
    expect(store.get(`notification#${fine.key}`)?.status).toBe('applied');
    expect(store.get(`notification#${failing.key}`)).toBeUndefined();

    store.putNotifications = original;
    expect(await processBatch([failing], deps)).toEqual([]);
    expect(store.get(`notification#${failing.key}`)?.status).toBe('applied');
    expect(store.get(SR)?.lifecycle_applied).toEqual([appliedKey(failing.key)]);
  });

  it('retries later notifications of a record whose earlier one failed, so none overtakes it', async () => {
    const { store, deps } = setup();
    // The first store call is the replay check (it passes), the second the first state write.
    const triggeredAt = '2026-11-23T09:00:00Z';
    const first = queueMessage(schedulingRequestBody('scheduling_request_time_chosen', { triggeredAt }));
    const second = queueMessage(schedulingRequestBody('scheduling_request_rescheduled', { triggeredAt }));
    const other = queueMessage(
      schedulingRequestBody('scheduling_request_time_chosen', {
        schedulingRequestId: 'srq_other',
        triggeredAt,
      }),
    );
    store.failNext.push(undefined as unknown as Error, new Error('boom'));
    const failed = await processBatch([first, second, other], deps);
    expect(failed.sort()).toEqual([first.messageId, second.messageId].sort());
    expect(store.get('scheduling_request#srq_other')?.status).toBe('time_chosen');
  });

  it('retries the whole batch when the replay check cannot read the notification records', async () => {
    const { store, deps } = setup();
    const untimed = queueMessage(schedulingRequestBody('scheduling_request_declined'));
    store.failNext.push(new Error('unreachable'));
    expect(await processBatch([untimed], deps)).toEqual([untimed.messageId]);
    expect(store.items.size).toBe(0);
  });

  it('keeps a body DynamoDB refuses as unparseable with the reason, instead of retrying it forever', async () => {
    const { store, deps } = setup();
    const message = queueMessage(schedulingRequestBody('scheduling_request_time_chosen'));
    store.failNext.push(
      undefined as unknown as Error,
      new StorageRejectedError('DynamoDB refused the values (ValidationException)'),
    );
    expect(await processBatch([message], deps)).toEqual([]);
    expect(store.get(`notification#${message.key}`)).toMatchObject({
      status: 'unparseable',
      reason: 'DynamoDB refused the values (ValidationException)',
    });
  });

  it('sends a message that is not an envelope to retry (and so the DLQ), not to the bin', async () => {
    const { deps } = setup();
    expect(await processBatch([{ messageId: 'm1', body: 'garbage' }], deps)).toEqual(['m1']);
  });

  it('records participant status changes that arrive before the time was chosen', async () => {
    const { store, deps } = setup();
    await processBatch(
      [
        queueMessage(
          schedulingRequestBody('event_participant_status_changed', { attendeeStatus: 'declined' }),
        ),
      ],
      deps,
    );
    const item = store.get(SR);
    expect(item?.status).toBeUndefined();
    expect((item?.event as { attendees: { status: string }[] } | undefined)?.attendees[0]?.status).toBe(
      'declined',
    );
  });
});

describe('a participant status change that lists no participants', () => {
  it('moves no aspect: a later-delivered older reschedule still shows its attendees', async () => {
    const { store, deps } = setup();
    const chosen = schedulingRequestBody('scheduling_request_time_chosen', {
      triggeredAt: '2026-11-23T10:00:00Z',
    });
    expect(await processBatch([queueMessage(chosen)], deps)).toEqual([]);
    const before = structuredClone(store.get(SR));
    const body = JSON.parse(
      schedulingRequestBody('event_participant_status_changed', { triggeredAt: '2026-11-23T12:00:00Z' }),
    );
    delete body.scheduling_request.event;
    const empty = queueMessage(JSON.stringify(body));
    expect(await processBatch([empty], deps)).toEqual([]);
    // participants_triggered_at would belong to a notification whose values the record does not show.
    expect(store.get(SR)).toEqual(before);
    expect(store.get(`notification#${empty.key}`)).toMatchObject({
      status: 'unparseable',
      reason: 'event_participant_status_changed without event.host or event.attendees: nothing to apply',
      scheduling_request_id: 'srq_d6f3f8165239d662963fc09b',
    });
    const reschedule = queueMessage(
      schedulingRequestBody('scheduling_request_rescheduled', {
        triggeredAt: '2026-11-23T11:00:00Z',
        attendeeStatus: 'declined',
      }),
    );
    expect(await processBatch([reschedule], deps)).toEqual([]);
    expect(store.get(SR)).toMatchObject({
      status: 'rescheduled',
      participants_triggered_at: '2026-11-23T11:00:00.000Z',
      event: { attendees: [{ status: 'declined' }, { status: 'needs_action' }] },
    });
  });
});

describe('Event Trigger records', () => {
  /** A store whose trigger writes take a macrotask each, counting how many are in flight at once. */
  class SlowTriggers extends MemoryStore {
    inFlight = 0;
    mostInFlight = 0;
    override async putEventTrigger(...args: Parameters<MemoryStore['putEventTrigger']>) {
      this.mostInFlight = Math.max(this.mostInFlight, ++this.inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      this.inFlight--;
      return super.putEventTrigger(...args);
    }
  }

  it('of one body are written TRIGGER_WRITES_IN_FLIGHT at a time, not one round trip after another', async () => {
    // A signed body of 190 KiB holds ~4,000 transitions: one by one, their writes outlast the worker's timeout, and
    // the message (with its batch) would be retried until the DLQ.
    const store = new SlowTriggers();
    const deps: WorkerDeps = { ...setup().deps, store };
    const transitions = Array.from({ length: 100 }, (_, i) => ({
      after: 'event_end',
      offset: { minutes: i },
    }));
    const message = queueMessage(
      JSON.stringify({
        notification: { type: 'event_subscription', transitions },
        event: { event_id: 'evt_many', start: '2026-12-01T10:00:00Z', end: '2026-12-01T10:30:00Z' },
      }),
    );
    expect(await processBatch([message], deps)).toEqual([]);
    expect([...store.items.keys()].filter((pk) => pk.startsWith('event_trigger#')).length).toBe(100);
    expect(store.mostInFlight).toBe(TRIGGER_WRITES_IN_FLIGHT);
    expect(store.get(`notification#${message.key}`)?.status).toBe('applied');
  });

  it('keep the body as unparseable when DynamoDB refuses one of them, saying how many others applied', async () => {
    const store = new MemoryStore();
    const deps: WorkerDeps = { ...setup().deps, store };
    const refused = new StorageRejectedError('DynamoDB refused the values (ValidationException)');
    let calls = 0;
    const put = store.putEventTrigger.bind(store);
    store.putEventTrigger = async (pk, record) => (++calls === 2 ? Promise.reject(refused) : put(pk, record));
    const transitions = Array.from({ length: 3 }, (_, i) => ({ after: 'event_end', offset: { minutes: i } }));
    const message = queueMessage(
      JSON.stringify({
        notification: { type: 'event_subscription', transitions },
        event: { event_id: 'evt_refused', start: '2026-12-01T10:00:00Z', end: '2026-12-01T10:30:00Z' },
      }),
    );
    expect(await processBatch([message], deps)).toEqual([]);
    expect(store.get(`notification#${message.key}`)).toMatchObject({
      status: 'unparseable',
      reason: 'DynamoDB refused the values (ValidationException); 2 earlier write(s) of it applied',
    });
  });

  it('of one body are retried, not kept unparseable, when a write fails for another reason', async () => {
    const store = new MemoryStore();
    const deps: WorkerDeps = { ...setup().deps, store };
    let calls = 0;
    const put = store.putEventTrigger.bind(store);
    const failures = [new Error('throttled'), new StorageRejectedError('refused')];
    store.putEventTrigger = async (pk, record) => {
      const failure = failures[calls++];
      return failure ? Promise.reject(failure) : put(pk, record);
    };
    const transitions = Array.from({ length: 3 }, (_, i) => ({ after: 'event_end', offset: { minutes: i } }));
    const message = queueMessage(
      JSON.stringify({
        notification: { type: 'event_subscription', transitions },
        event: { event_id: 'evt_throttled', start: '2026-12-01T10:00:00Z', end: '2026-12-01T10:30:00Z' },
      }),
    );
    expect(await processBatch([message], deps)).toEqual([message.messageId]);
    expect(store.get(`notification#${message.key}`)).toBeUndefined();
  });
});

describe('replaying a kept notification after a fix', () => {
  it('upgrades an unknown_type record once the type is understood, and only once (npm run ops -- replay)', async () => {
    const { store, deps } = setup();
    const message = queueMessage(schedulingRequestBody('scheduling_request_time_chosen'), {
      opsReplay: true,
    });
    // First seen by a worker that did not know the type: kept as unknown_type.
    store.items.set(`notification#${message.key}`, { notification_id: message.key, status: 'unknown_type' });
    const before = store.changes;
    expect(await processBatch([message], deps)).toEqual([]);
    expect(store.get(`notification#${message.key}`)?.status).toBe('applied');
    expect(store.get(SR)?.status).toBe('time_chosen');
    expect(await processBatch([message], deps)).toEqual([]);
    expect(store.changes - before).toBe(2);
  });

  it.each(['unknown_type', 'unparseable'])(
    'a replay of a body kept %s, not through ops replay, has no effect (not even on its record)',
    async (kept) => {
      const { store, deps } = setup();
      const message = queueMessage(schedulingRequestBody('scheduling_request_time_chosen'));
      const record = { notification_id: message.key, status: kept, reason: 'DynamoDB refused the values' };
      store.items.set(`notification#${message.key}`, record);
      const before = store.changes;
      expect(await processBatch([message], deps)).toEqual([]);
      expect(store.get(`notification#${message.key}`)).toBe(record);
      expect(store.get(SR)).toBeUndefined();
      expect(store.changes).toBe(before);
    },
  );

  it('a body DynamoDB refused is not applied by a replay after the record shrank; ops replay applies it once', async () => {
    const { store, deps } = setup();
    const body = schedulingRequestBody('scheduling_request_time_chosen', {
      triggeredAt: '2026-11-23T12:00:00Z',
    });
    // The replay check passes, then the state write is refused: kept as unparseable.
    store.failNext.push(
      undefined as unknown as Error,
      new StorageRejectedError('DynamoDB refused the values'),
    );
    const first = queueMessage(body);
    expect(await processBatch([first], deps)).toEqual([]);
    expect(store.get(`notification#${first.key}`)?.status).toBe('unparseable');
    // Kept for as long as it may be replayed.
    expect(store.get(`notification#${first.key}`)).not.toHaveProperty('expires_at');
    // The record could take it now; a signed body captured and posted again must still have no effect.
    expect(await processBatch([queueMessage(body, { notificationId: 'ntf_fresh' })], deps)).toEqual([]);
    expect(store.get(SR)).toBeUndefined();
    expect(await processBatch([queueMessage(body, { opsReplay: true })], deps)).toEqual([]);
    expect(store.get(SR)?.status).toBe('time_chosen');
    expect(store.get(`notification#${first.key}`)?.status).toBe('applied');
  });
});
