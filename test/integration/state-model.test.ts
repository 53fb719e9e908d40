import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { DynamoReconcileStore } from '#shared/aws/reconcile-store.ts';
import { cancelledAt, cancelWrite, DynamoSchedulingStore } from '#shared/aws/scheduling-store.ts';
import { type Item, mergeState, type StateWrite } from '#shared/contract/ordering.ts';
import { keys } from '#shared/contract/records.ts';
import { silentLogger } from '#shared/core/logger.ts';
import type { RecordStore } from '#shared/core/ports.ts';
import { processBatch, type QueueMessage, type WorkerDeps } from '#shared/notifications/apply.ts';
import { reconcileWrite } from '#shared/scheduling/reconcile.ts';
import { seededRandom } from '../sim/index.ts';
import { conferencingBody, eventTriggerBody, schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { type LocalAws, readItem, startLocalAws } from '../support/local-aws.ts';
import { MemoryStore } from '../support/memory-store.ts';
import { queueMessage } from '../support/messages.ts';
import { readStream, recordsFor } from '../support/stream-reader.ts';

/**
 * The ordering model (shared/contract/ordering.ts) against DynamoDB Local: the adapter's one-round-trip update and
 * its merge fallback agree with the pure model, awkward values are recorded on the first attempt, and a crash
 * between any two writes changes nothing on redelivery.
 */

let aws: LocalAws;
let store: DynamoRecordStore;
let counter = 0;
const uniqueId = (prefix: string) => `${prefix}_${process.pid}_${++counter}`;
const deps = (recordStore: RecordStore): WorkerDeps => ({
  store: recordStore,
  clock: () => new Date('2026-11-23T13:00:00.000Z'),
  logger: silentLogger,
  retentionDays: 90,
});

beforeAll(async () => {
  aws = await startLocalAws();
  store = new DynamoRecordStore(aws.ddb, aws.tableName);
});
afterAll(async () => aws?.stop());

const item = (pk: string) => readItem(aws, pk);

describe('notification records', () => {
  it('say applied when two deliveries of one body judged it applied and stale, whichever lands first', async () => {
    for (const order of [
      ['stale', 'applied'],
      ['applied', 'stale'],
    ] as const) {
      const id = uniqueId('sha256:race');
      const record = (status: 'applied' | 'stale') => ({
        entity: 'notification' as const,
        notification_id: id,
        type: 'scheduling_request_time_chosen',
        processed_at: '2026-11-23T13:00:01.000Z',
        status,
        received_at: '2026-11-23T13:00:00.000Z',
        body: '{}',
        body_encoding: 'utf8' as const,
        expires_at: 1_900_000_000,
      });
      for (const status of order) await store.putNotifications([record(status)]);
      expect((await item(keys.notification(id)))?.status).toBe('applied');
    }
  });
});

describe('the adapter agrees with the pure model', () => {
  /** Reconciliation's write on the model: `mergeState` when it changes the record, else nothing at all. */
  function reconcileModel(
    memory: MemoryStore,
    pk: string,
    build: (record?: Item) => StateWrite | undefined,
    at: string,
  ) {
    const old = memory.get(pk);
    const write = build(old);
    const merged = write ? mergeState(old, write) : undefined;
    if (merged?.item) memory.items.set(pk, { ...merged.item, reconciled_at: at });
  }

  it('over 40 random sequences of notifications, reconciliation reads and cancels, duplicates and ties included', async () => {
    const random = seededRandom(20261129);
    const reconcileStore = new DynamoReconcileStore(aws.ddb, aws.tableName);
    const schedulingStore = new DynamoSchedulingStore(aws.ddb, aws.tableName);
    const types = [
      'scheduling_request_time_chosen',
      'scheduling_request_rescheduled',
      'event_participant_status_changed',
      'scheduling_request_declined',
      'scheduling_request_more_times_requested',
      'event_start',
    ] as const;
    for (let run = 0; run < 40; run++) {
      const id = uniqueId('srq_model');
      const pk = keys.schedulingRequest(id);
      const memory = new MemoryStore();
      if (random.chance(0.5)) {
        // Created through the API: pending, no lifecycle time, in the open index.
        const created = {
          pk,
          entity: 'scheduling_request',
          scheduling_request_id: id,
          status: 'pending',
          open_bucket: 'open',
          open_until: '9999-12-31T23:59:59.999Z',
          updated_at: '2026-11-23T11:00:00.000Z',
          revision: 1,
        };
        await aws.ddb.send(new PutItemCommand({ TableName: aws.tableName, Item: marshall(created) }));
        memory.items.set(pk, created);
      }
      const sent: (QueueMessage & { key: string })[] = [];
      for (let step = 0; step < 10; step++) {
        if (random.chance(0.2)) {
          // A read of Cronofy between the notifications' seconds, showing times, participants, metadata.
          const day = random.int(1, 9);
          const at = `2026-11-23T12:00:0${random.int(0, 4)}.500Z`;
          const answer = {
            scheduling_request_id: id,
            slot_selection: random.pick(['complete', 'pending']),
            ...(random.chance(0.8)
              ? {
                  event: {
                    start: { time: `2026-12-0${day}T10:00:00Z`, tzid: 'Etc/UTC' },
                    end: { time: `2026-12-0${day}T10:30:00Z`, tzid: 'Etc/UTC' },
                    attendees: [
                      {
                        email: 'candidate@example.com',
                        status: random.pick(['accepted', 'declined', 'needs_action']),
                      },
                    ],
                    metadata: { scheduler: { utm_source: random.pick(['ats', 'board']) } },
                  },
                }
              : {}),
          };
          const build = (record?: Item) => reconcileWrite(answer, record, at, at);
          await reconcileStore.reconcile(id, await item(pk), build, at);
          reconcileModel(memory, pk, build, at);
          continue;
        }
        if (random.chance(0.08)) {
          // A cancel through the API, timed between the notifications' seconds: it sends none of the lifecycle's
          // value groups, so later-delivered older steps may still apply theirs.
          const at = `2026-11-23T12:00:0${random.int(0, 4)}.250Z`;
          await schedulingStore.recordCancelled(id, at);
          const old = memory.get(pk);
          const merged = cancelledAt(old) === undefined ? mergeState(old, cancelWrite(id, at)) : undefined;
          if (merged?.item) memory.items.set(pk, merged.item);
          continue;
        }
        let message: QueueMessage & { key: string };
        if (sent.length > 0 && random.chance(0.25)) {
          message = random.pick(sent); // a duplicate, possibly after newer ones
        } else {
          const type = random.pick([...types]);
          // Few distinct seconds, so ties and out-of-order arrivals are common; some without triggered_at.
          const second = random.int(0, 4);
          const body = JSON.parse(
            schedulingRequestBody(type, {
              schedulingRequestId: id,
              ...(random.chance(0.8) ? { triggeredAt: `2026-11-23T12:00:0${second}Z` } : {}),
              start: `2026-12-0${random.int(1, 9)}T10:00:00Z`,
              attendeeStatus: random.pick(['accepted', 'declined', 'tentative']),
              hostStatus: random.pick(['accepted', 'tentative']),
              tzid: random.pick(['Europe/Paris', 'Asia/Tokyo']),
              correlationId: random.pick(['corr_1', 'corr_2', undefined]),
              capturedData: { 'captured_data.answer': random.pick(['yes', 'no']) },
            }),
          );
          // Some list the attendees without the host, as Cronofy's participant change example does, some the
          // host alone; some leave out the metadata, the event times or the recipient's time zone: the value
          // groups a newer notification leaves out, which an older one delivered late may still apply.
          const event = body.scheduling_request.event;
          if (event && random.chance(0.3)) delete event.host;
          else if (event && random.chance(0.2)) delete event.attendees;
          if (event && random.chance(0.2)) delete event.metadata;
          if (event && random.chance(0.2))
            for (const field of ['start', 'end', 'summary']) delete event[field];
          if (random.chance(0.2)) delete body.user;
          message = queueMessage(JSON.stringify(body), {
            receivedAt: new Date(Date.parse('2026-11-23T12:00:00Z') + step * 700),
          });
          sent.push(message);
        }
        expect(await processBatch([message], deps(store))).toEqual([]);
        expect(await processBatch([message], deps(memory))).toEqual([]);
      }
      const { pk: _a, ...stored } = (await item(pk)) ?? {};
      const { pk: _b, ...modelled } = memory.get(pk) ?? {};
      expect(stored).toEqual(modelled);
      for (const message of sent) {
        const dynamo = await item(keys.notification(message.key));
        const model = memory.get(keys.notification(message.key));
        expect(dynamo?.status).toBe(model?.status);
      }
    }
  });
});

describe('values DynamoDB cannot hold as sent, recorded on the first attempt', () => {
  const withMetadata = (id: string, json: string) =>
    schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: id }).replace(
      '"utm_source":"ats"',
      `"utm_source":"ats",${json}`,
    );
  let deep = '"bottom"';
  for (let i = 0; i < 40; i++) deep = `{"d":${deep}}`;

  it.each([
    ['a 20-digit integer', (id: string) => withMetadata(id, '"captured_data.phone":12345678901234567890')],
    ['1e200', (id: string) => withMetadata(id, '"captured_data.n":1e200')],
    ['1e-7 and -0', (id: string) => withMetadata(id, '"captured_data.a":1e-7,"captured_data.b":-0')],
    [
      'nesting 40 deep',
      (id: string) =>
        schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: id }).replace(
          '"status":"accepted"',
          `"status":"accepted","x":${deep}`,
        ),
    ],
    [
      'an empty attribute name',
      (id: string) =>
        schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: id }).replace(
          '"status":"accepted"',
          '"status":"accepted","":"empty"',
        ),
    ],
    [
      'a 2,100-character id',
      (id: string) =>
        schedulingRequestBody('scheduling_request_time_chosen', {
          schedulingRequestId: `${id}${'x'.repeat(2100)}`,
        }),
    ],
    ['an unpaired surrogate', (id: string) => withMetadata(id, '"captured_data.s":"a\\udc00b"')],
    [
      'an Event Trigger offset of 1e12 minutes',
      (id: string) => eventTriggerBody({ before: 'event_start', offset: { minutes: 1e12 } }, { eventId: id }),
    ],
    ['a 100 KB type name', () => JSON.stringify({ notification: { type: 'x'.repeat(100_000) } })],
  ])('%s', async (_, body) => {
    const sent = body(uniqueId('srq_awkward'));
    const message = queueMessage(sent);
    expect(await processBatch([message], deps(store))).toEqual([]);
    const record = await item(keys.notification(message.key));
    expect(record?.status).toMatch(/^(applied|unknown_type)$/);
    expect(record?.body).toBe(sent);
  });

  it('keeps the exact digits of a 20-digit phone number on the state record', async () => {
    const id = uniqueId('srq_phone');
    const message = queueMessage(
      schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: id }).replace(
        '"utm_source":"ats"',
        '"utm_source":"ats","captured_data.phone":12345678901234567890',
      ),
    );
    expect(await processBatch([message], deps(store))).toEqual([]);
    const record = await item(keys.schedulingRequest(id));
    expect(record?.metadata).toMatchObject({ 'captured_data.phone': '12345678901234567890' });
  });

  it('a record that would pass 400 KB keeps the notification as unparseable with the reason, not in the DLQ', async () => {
    const id = uniqueId('srq_huge');
    const base = () =>
      JSON.parse(schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: id }));
    // Each body is within the limit; together the record's aspects would hold 3 × 140 KB.
    const first = base();
    first.notification.triggered_at = '2026-11-23T12:00:00Z';
    first.scheduling_request.event.metadata.scheduler['captured_data.notes'] = 'a'.repeat(140_000);
    const second = base();
    second.notification = { type: 'event_participant_status_changed', triggered_at: '2026-11-23T12:00:01Z' };
    second.scheduling_request.event.attendees[0].notes = 'b'.repeat(140_000);
    const third = base();
    third.notification = { type: 'scheduling_request_rescheduled', triggered_at: '2026-11-23T12:00:02Z' };
    delete third.scheduling_request.event.metadata;
    delete third.scheduling_request.event.attendees;
    delete third.scheduling_request.event.host;
    third.scheduling_request.event.summary = 'c'.repeat(140_000);
    const messages = [first, second, third].map((body) => queueMessage(JSON.stringify(body)));
    for (const message of messages) expect(await processBatch([message], deps(store))).toEqual([]);
    expect((await item(keys.notification(messages[1]?.key ?? '')))?.status).toBe('applied');
    const kept = await item(keys.notification(messages[2]?.key ?? ''));
    expect(kept).toMatchObject({
      status: 'unparseable',
      reason: expect.stringContaining('DynamoDB refused'),
    });
    expect(kept?.body).toBe(JSON.stringify(third));
  });
});

describe('identity and keys', () => {
  it('two ids that differ only in a lone surrogate never share a record: both are kept unparseable', async () => {
    const base = uniqueId('srq_surrogate');
    const messages = ['\ud800', '\udc00'].map((c) =>
      queueMessage(
        schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: `${base}${c}` }),
      ),
    );
    expect(await processBatch(messages, deps(store))).toEqual([]);
    for (const message of messages)
      expect(await item(keys.notification(message.key))).toMatchObject({
        status: 'unparseable',
        reason: expect.stringContaining('well-formed Unicode'),
      });
    expect(await item(keys.schedulingRequest(`${base}\ufffd`))).toBeUndefined();
    expect(keys.schedulingRequest(`${base}\ud800`)).not.toBe(keys.schedulingRequest(`${base}\udc00`));
    expect(keys.schedulingRequest(`${base}\ud800`)).not.toBe(keys.schedulingRequest(`${base}\ufffd`));
  });

  it('a metadata key named "__proto__" is left out, so the record can still be read back and merged', async () => {
    const id = uniqueId('srq_proto');
    const body = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: id,
      triggeredAt: '2026-11-23T12:00:00Z',
    }).replace('"utm_source":"ats"', '"__proto__":"dropped","utm_source":"ats"');
    expect(await processBatch([queueMessage(body)], deps(store))).toEqual([]);
    expect(await item(keys.notification(queueMessage(body).key))).toMatchObject({
      status: 'applied',
      reason: '1 map key(s) named __proto__ left out of the state records',
    });
    // A participant change of the same second: a tie, which takes the merge path (the record read back).
    const tie = schedulingRequestBody('event_participant_status_changed', {
      schedulingRequestId: id,
      triggeredAt: '2026-11-23T12:00:00Z',
      attendeeStatus: 'declined',
    });
    expect(await processBatch([queueMessage(tie)], deps(store))).toEqual([]);
    const record = await item(keys.schedulingRequest(id));
    expect(record).toMatchObject({ status: 'time_chosen', metadata: { utm_source: 'ats' } });
    expect(Object.keys(record?.metadata as object)).not.toContain('__proto__');
  });
});

describe('no-op writes are no writes', () => {
  it('a same-meaning body in other bytes adds no stream record to the state record', async () => {
    const id = uniqueId('srq_same');
    const body = schedulingRequestBody('scheduling_request_rescheduled', {
      schedulingRequestId: id,
      triggeredAt: '2026-11-23T12:00:00Z',
    });
    const other = JSON.stringify(JSON.parse(body), null, 1);
    expect(await processBatch([queueMessage(body)], deps(store))).toEqual([]);
    expect(await processBatch([queueMessage(other)], deps(store))).toEqual([]);
    const stream = await readStream(aws.dynamo.endpoint, aws.streamArn);
    expect(recordsFor(stream, keys.schedulingRequest(id)).map((r) => r.eventName)).toEqual(['INSERT']);
    expect((await item(keys.notification(queueMessage(other).key)))?.status).toBe('applied');
  });
  it('a same-meaning body with a -0 in it adds no stream record either (DynamoDB reads it back as 0)', async () => {
    const id = uniqueId('srq_negative_zero');
    const body = JSON.parse(
      schedulingRequestBody('scheduling_request_rescheduled', {
        schedulingRequestId: id,
        triggeredAt: '2026-11-23T12:00:00Z',
      }),
    );
    body.scheduling_request.event.attendees[0].score = 0;
    const first = JSON.stringify(body).replace('"score":0', '"score":-0');
    const other = JSON.stringify(body, null, 1).replace('"score": 0', '"score": -0');
    expect(await processBatch([queueMessage(first)], deps(store))).toEqual([]);
    expect(await processBatch([queueMessage(other)], deps(store))).toEqual([]);
    const stream = await readStream(aws.dynamo.endpoint, aws.streamArn);
    expect(recordsFor(stream, keys.schedulingRequest(id)).map((r) => r.eventName)).toEqual(['INSERT']);
  });
});

describe('a crash between any two writes', () => {
  /** A store whose `limit`-th call and every later one fail, as a killed worker's would. */
  function crashingAfter(limit: number): RecordStore {
    let calls = 0;
    const guard = () => {
      if (++calls > limit) throw new Error('worker killed');
    };
    return {
      applyState: async (write) => {
        guard();
        return store.applyState(write);
      },
      putEventTrigger: async (pk, record) => {
        guard();
        return store.putEventTrigger(pk, record);
      },
      putNotifications: async (records) => {
        guard();
        return store.putNotifications(records);
      },
      notificationStatuses: async (ids) => {
        guard();
        return store.notificationStatuses(ids);
      },
    };
  }

  it('changes nothing on redelivery, whichever write the crash follows', async () => {
    // One body with a conferencing change and two Event Triggers: a state write, two trigger writes and the
    // notification record: a crash after 0, 1, 2 or 3 of them.
    for (let limit = 0; limit <= 3; limit++) {
      const eventId = uniqueId('evt_crash');
      const body = JSON.parse(
        conferencingBody('conferencing_assigned', { eventId, triggeredAt: '2026-11-23T12:00:00Z' }),
      );
      body.notification.transitions = [
        { before: 'event_start', offset: { minutes: 5 } },
        { after: 'event_end', offset: { minutes: 10 } },
      ];
      const message = queueMessage(JSON.stringify(body));
      await processBatch([message], deps(crashingAfter(limit))).catch(() => undefined);
      expect(await processBatch([message], deps(store))).toEqual([]);
      expect(await processBatch([message], deps(store))).toEqual([]);

      const stream = await readStream(aws.dynamo.endpoint, aws.streamArn);
      const event = recordsFor(stream, keys.event(eventId)).map((r) => r.eventName);
      expect(event).toEqual(['INSERT']);
      const triggers = stream.filter((r) =>
        String(r.dynamodb?.Keys?.pk?.S).startsWith(`event_trigger#${eventId}#`),
      );
      expect(triggers.map((r) => r.eventName)).toEqual(['INSERT', 'INSERT']);
      expect(recordsFor(stream, keys.notification(message.key)).map((r) => r.eventName)).toEqual(['INSERT']);
      expect((await item(keys.notification(message.key)))?.status).toBe('applied');
    }
  });
});

describe('concurrent deliveries in different batches', () => {
  it('20 concurrent deliveries of a body without triggered_at, received at different times, have one effect', async () => {
    const id = uniqueId('srq_concurrent');
    const body = schedulingRequestBody('scheduling_request_declined', { schedulingRequestId: id });
    const deliveries = Array.from({ length: 20 }, (_, i) =>
      queueMessage(body, { receivedAt: new Date(Date.parse('2026-11-23T12:00:00Z') + i * 1000) }),
    );
    const results = await Promise.all(deliveries.map((message) => processBatch([message], deps(store))));
    expect(results.flat()).toEqual([]);
    const stream = await readStream(aws.dynamo.endpoint, aws.streamArn);
    expect(recordsFor(stream, keys.schedulingRequest(id)).map((r) => r.eventName)).toEqual(['INSERT']);
    expect(recordsFor(stream, keys.notification(deliveries[0]?.key ?? '')).map((r) => r.eventName)).toEqual([
      'INSERT',
    ]);
  });
});

describe('records written by the previous version', () => {
  it('are upgraded by the next notification: ordering kept, the unbounded list removed', async () => {
    const id = uniqueId('srq_legacy');
    const pk = keys.schedulingRequest(id);
    await aws.ddb.send(
      new PutItemCommand({
        TableName: aws.tableName,
        Item: marshall({
          pk,
          entity: 'scheduling_request',
          scheduling_request_id: id,
          status: 'rescheduled',
          triggered_at: '2026-11-23T12:00:00.000Z',
          updated_at: '2026-11-23T12:00:01.000Z',
          last_notification_type: 'scheduling_request_rescheduled',
          event: { start: { time: '2026-12-02T09:00:00Z' } },
          applied_notifications: Array.from({ length: 500 }, (_, i) => `ntf_${i}`),
        }),
      }),
    );
    const older = queueMessage(
      schedulingRequestBody('scheduling_request_time_chosen', {
        schedulingRequestId: id,
        triggeredAt: '2026-11-23T11:00:00Z',
      }),
    );
    expect(await processBatch([older], deps(store))).toEqual([]);
    expect((await item(keys.notification(older.key)))?.status).toBe('stale');
    expect((await item(pk))?.applied_notifications).toHaveLength(500);

    const newer = queueMessage(
      schedulingRequestBody('scheduling_request_declined', {
        schedulingRequestId: id,
        triggeredAt: '2026-11-23T13:00:00Z',
        withEvent: false,
      }),
    );
    expect(await processBatch([newer], deps(store))).toEqual([]);
    const upgraded = await item(pk);
    expect(upgraded).not.toHaveProperty('applied_notifications');
    expect(upgraded).toMatchObject({
      status: 'declined',
      triggered_at: '2026-11-23T13:00:00.000Z',
      participants_triggered_at: '2026-11-23T12:00:00.000Z',
      revision: 1,
    });
  });
});
