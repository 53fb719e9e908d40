import type { PutEventsCommand, PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { EventBridgePublisher } from '#shared/aws/event-bus.ts';
import { silentLogger } from '#shared/core/logger.ts';
import type { BusEntry, EventPublisher } from '#shared/core/ports.ts';
import { entrySize, PUT_EVENTS_MAX_BYTES } from '#shared/events/domain-events.ts';
import {
  PUT_ATTEMPTS,
  PUT_EVENTS_MAX_ENTRIES,
  publishStreamBatch,
  type StreamItem,
} from '#shared/events/publish.ts';
import { makeHandler } from '../../functions/events/handler.ts';

/** The stream function: events put in order, in chunks PutEvents takes, and a failure names where to retry. */

const T0 = '2026-03-01T10:00:00.000Z';

function requestRecord(id: string, status: string, revision: number) {
  return {
    entity: 'scheduling_request',
    scheduling_request_id: id,
    status,
    updated_at: `2026-03-01T10:00:${String(revision).padStart(2, '0')}.000Z`,
    revision,
  };
}

/** A stream item whose change is one event (a new status), or none (a notification record). */
function item(seq: number, kind: 'event' | 'none' = 'event'): StreamItem {
  const image =
    kind === 'event'
      ? requestRecord(`sr_${seq}`, 'time_chosen', seq)
      : {
          entity: 'notification',
          notification_id: `n${seq}`,
          type: null,
          status: 'applied',
          received_at: T0,
          body: '{}',
          body_encoding: 'utf8',
          processed_at: T0,
        };
  return {
    itemIdentifier: String(seq),
    record: { eventName: 'INSERT', dynamodb: { NewImage: marshall(image) } },
  };
}

class FakeBus implements EventPublisher {
  readonly calls: BusEntry[][] = [];
  constructor(
    private readonly answer: (entries: readonly BusEntry[], call: number) => Array<string | undefined>,
  ) {}
  async put(entries: readonly BusEntry[]) {
    this.calls.push([...entries]);
    return this.answer(entries, this.calls.length);
  }
}
const accepting = () => new FakeBus((entries) => entries.map(() => undefined));
const idOf = (entry: BusEntry | undefined) => JSON.parse(entry?.detail ?? '{}').record.scheduling_request_id;

describe('publishStreamBatch', () => {
  it('puts every event in stream order, at most 10 per request, skipping records that make none', async () => {
    const bus = accepting();
    const items = Array.from({ length: 25 }, (_, i) => item(i + 1, i % 5 === 4 ? 'none' : 'event'));
    expect(await publishStreamBatch(items, { publisher: bus, logger: silentLogger })).toBeUndefined();
    expect(bus.calls.map((call) => call.length)).toEqual([10, 10]);
    expect(bus.calls.flat().map(idOf)).toEqual(
      items.filter((_, i) => i % 5 !== 4).map((i) => `sr_${i.itemIdentifier}`),
    );
    const [first] = bus.calls[0] ?? [];
    expect(first).toMatchObject({
      source: 'cronofy.notifications',
      detailType: 'scheduling_request.time_chosen',
      time: '2026-03-01T10:00:01.000Z',
    });
  });

  it('at an entry refused on every attempt, stops and names its record: the mapping retries from there', async () => {
    const bus = new FakeBus((entries) =>
      entries.map((entry) => (idOf(entry) === 'sr_4' ? 'ThrottlingException' : undefined)),
    );
    const items = Array.from({ length: 15 }, (_, i) => item(i + 1));
    expect(
      await publishStreamBatch(items, { publisher: bus, logger: silentLogger, sleep: async () => {} }),
    ).toBe('4');
    // Nothing of the next chunk (sr_11…) was put.
    expect(bus.calls.flat().map(idOf)).not.toContain('sr_11');
    expect(bus.calls).toHaveLength(PUT_ATTEMPTS);
  });

  it('when the request fails as a whole, names the first record of that chunk', async () => {
    const bus: EventPublisher = {
      calls: 0,
      async put(entries: readonly BusEntry[]) {
        this.calls++;
        if (this.calls === 2) throw new Error('socket hang up');
        return entries.map(() => undefined);
      },
    } as EventPublisher & { calls: number };
    const items = Array.from({ length: 12 }, (_, i) => item(i + 1));
    expect(await publishStreamBatch(items, { publisher: bus, logger: silentLogger })).toBe('11');
  });

  it('keeps each request within 256 KiB', async () => {
    const bus = accepting();
    const big = (seq: number): StreamItem => {
      const image = {
        ...requestRecord(`sr_${seq}`, 'declined', seq),
        metadata: { notes: 'x'.repeat(100_000) },
      };
      return {
        itemIdentifier: String(seq),
        record: { eventName: 'INSERT', dynamodb: { NewImage: marshall(image) } },
      };
    };
    await publishStreamBatch([big(1), big(2), big(3), big(4), big(5)], {
      publisher: bus,
      logger: silentLogger,
    });
    expect(bus.calls.map((call) => call.length)).toEqual([2, 2, 1]);
    expect(PUT_EVENTS_MAX_ENTRIES).toBe(10);
  });
});

/** Successive changes of one record: `sr_same` going through the statuses, each a MODIFY of the one before. */
function sameRecordItems(statuses: string[]): StreamItem[] {
  return statuses.map((status, i) => ({
    itemIdentifier: String(i + 1),
    record: {
      eventName: i === 0 ? 'INSERT' : 'MODIFY',
      dynamodb: {
        NewImage: marshall(requestRecord('sr_same', status, i + 1)),
        ...(i === 0 ? {} : { OldImage: marshall(requestRecord('sr_same', statuses[i - 1] ?? '', i)) }),
      },
    },
  }));
}
const revisionOf = (entry: BusEntry) => JSON.parse(entry.detail).record.revision as number;

describe('the changes of one record, under partial failure', () => {
  const statuses = ['pending', 'time_chosen', 'rescheduled', 'cancelled'];

  it('never go in one request: a later change is never accepted while an earlier one was refused', async () => {
    // PutEvents is not atomic: in one request the bus can refuse the first entry and accept the second.
    const accepted: number[] = [];
    const bus = new FakeBus((entries, call) =>
      entries.map((entry, i) => {
        if (call === 1 && i === 0) return 'ThrottlingException';
        accepted.push(revisionOf(entry));
        return undefined;
      }),
    );
    const failed = await publishStreamBatch(sameRecordItems(statuses), {
      publisher: bus,
      logger: silentLogger,
      sleep: async () => {},
    });
    for (const call of bus.calls) expect(new Set(call.map(idOf)).size).toBe(call.length);
    expect(failed).toBeUndefined();
    expect(accepted).toEqual([1, 2, 3, 4]);
  });

  it('retries only the refused entries, in order, before going on; after the last attempt names the first', async () => {
    const items = Array.from({ length: 5 }, (_, i) => item(i + 1));
    const flaky = new FakeBus((entries, call) =>
      entries.map((entry) =>
        call === 1 && ['sr_2', 'sr_4'].includes(idOf(entry)) ? 'InternalFailure' : undefined,
      ),
    );
    expect(
      await publishStreamBatch(items, { publisher: flaky, logger: silentLogger, sleep: async () => {} }),
    ).toBeUndefined();
    expect(flaky.calls.map((call) => call.map(idOf))).toEqual([
      ['sr_1', 'sr_2', 'sr_3', 'sr_4', 'sr_5'],
      ['sr_2', 'sr_4'],
    ]);

    const waits: number[] = [];
    const down = new FakeBus((entries) =>
      entries.map((entry) => (['sr_2', 'sr_4'].includes(idOf(entry)) ? 'ThrottlingException' : undefined)),
    );
    const sleep = async (ms: number) => {
      waits.push(ms);
    };
    expect(await publishStreamBatch(items, { publisher: down, logger: silentLogger, sleep })).toBe('2');
    expect(down.calls.slice(1).every((call) => call.map(idOf).join() === 'sr_2,sr_4')).toBe(true);
    expect(waits.length).toBe(down.calls.length - 1);
  });
});

describe('an event whose whole record is too large for an entry', () => {
  // As EventBridge answers an entry over its limit: refused, on every retry.
  const strictBus = () =>
    new FakeBus((entries) =>
      entries.map((entry) => (entrySize(entry) < PUT_EVENTS_MAX_BYTES ? undefined : 'ValidationException')),
    );
  const logged: Array<{ message: string; fields: unknown }> = [];
  const logger = {
    ...silentLogger,
    warn: (message: string, fields?: unknown) => logged.push({ message, fields }),
  };

  it('is put once, its record reduced, in order with the events around it: nothing retried, nothing dropped', async () => {
    const huge = {
      ...requestRecord('sr_big', 'time_chosen', 3),
      tenant_id: 'acme',
      metadata: { 'captured_data.notes': 'n'.repeat(181_000) },
      event: {
        attendees: Array.from({ length: 1500 }, (_, i) => ({
          email: `person${i}@example.com`,
          display_name: 'Attendee with a long display name '.repeat(3),
        })),
      },
    };
    const items = [
      item(1),
      { itemIdentifier: '2', record: { eventName: 'INSERT', dynamodb: { NewImage: marshall(huge) } } },
      item(3),
    ];
    const bus = strictBus();
    expect(await publishStreamBatch(items, { publisher: bus, logger })).toBeUndefined();
    const entries = bus.calls.flat();
    expect(entries.map(idOf)).toEqual(['sr_1', 'sr_big', 'sr_3']);
    const detail = JSON.parse(entries[1]?.detail ?? '{}');
    expect(detail).toMatchObject({ record_truncated: true, tenant_id: 'acme', changed: expect.any(Array) });
    expect(detail.record).toEqual({
      entity: 'scheduling_request',
      scheduling_request_id: 'sr_big',
      tenant_id: 'acme',
      status: 'time_chosen',
      revision: 3,
    });
    expect(JSON.parse(entries[0]?.detail ?? '{}')).not.toHaveProperty('record_truncated');
    expect(logged).toEqual([
      {
        message: expect.stringContaining('too large'),
        fields: {
          detailType: 'scheduling_request.time_chosen',
          eventId: detail.event_id,
          recordId: 'sr_big',
          tenantId: 'acme',
          sequenceNumber: '2',
        },
      },
    ]);
  });
});

describe('the events function handler', () => {
  it('answers with the sequence number of the first record not put, or no failures', async () => {
    const event = {
      Records: [1, 2, 3].map((seq) => ({
        eventName: 'INSERT',
        dynamodb: {
          SequenceNumber: `seq-${seq}`,
          NewImage: marshall(requestRecord(`sr_${seq}`, 'declined', seq)),
        },
      })),
    } as unknown as DynamoDBStreamEvent;
    const refusing = new FakeBus((entries) =>
      entries.map((entry) => (idOf(entry) === 'sr_2' ? 'InternalFailure' : undefined)),
    );
    expect(
      await makeHandler({ publisher: refusing, logger: silentLogger, sleep: async () => {} })(event),
    ).toEqual({
      batchItemFailures: [{ itemIdentifier: 'seq-2' }],
    });
    expect(await makeHandler({ publisher: accepting(), logger: silentLogger })(event)).toEqual({
      batchItemFailures: [],
    });
  });
});

describe('EventBridgePublisher (PutEvents through the SDK client)', () => {
  const entry: BusEntry = {
    source: 'cronofy.notifications',
    detailType: 'scheduling_request.declined',
    detail: '{"a":1}',
    time: T0,
  };

  function capture(answer: object) {
    const commands: PutEventsCommand[] = [];
    const client = {
      send: async (command: PutEventsCommand) => {
        commands.push(command);
        if (answer instanceof Error) throw answer;
        return answer as Pick<PutEventsCommandOutput, 'Entries'>;
      },
    };
    return { publisher: new EventBridgePublisher({ busName: 'bus-1', client }), commands };
  }

  it('sends one PutEvents with the entries on the bus, and maps the answer per entry', async () => {
    const { publisher, commands } = capture({
      FailedEntryCount: 1,
      Entries: [{ EventId: 'e1' }, { ErrorCode: 'InternalFailure' }],
    });
    expect(await publisher.put([entry, { ...entry, detailType: 'event_trigger.fired' }])).toEqual([
      undefined,
      'InternalFailure',
    ]);
    expect(commands).toHaveLength(1);
    expect(commands[0]?.input.Entries?.[0]).toEqual({
      EventBusName: 'bus-1',
      Source: 'cronofy.notifications',
      DetailType: 'scheduling_request.declined',
      Detail: '{"a":1}',
      Time: new Date(T0),
    });
  });

  it('counts an entry the answer leaves out as failed, and sends nothing for no entries', async () => {
    const { publisher, commands } = capture({ Entries: [{ EventId: 'e1' }] });
    expect(await publisher.put([entry, entry])).toEqual([undefined, 'NoAnswer']);
    expect(await publisher.put([])).toEqual([]);
    expect(commands).toHaveLength(1);
  });

  it('rejects when the call fails, naming the error only, never its message', async () => {
    const refused = Object.assign(new Error('User arn:aws:iam::1:role/x is not authorized'), {
      name: 'AccessDeniedException',
    });
    const { publisher } = capture(refused);
    await expect(publisher.put([entry])).rejects.toThrow(/^PutEvents failed \(AccessDeniedException\)$/);
  });
});
