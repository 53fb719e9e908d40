import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { keys } from '#shared/contract/records.ts';
import { busEventOf, domainEventOfStreamRecord } from '#shared/events/domain-events.ts';
import type { BusEvent } from '#shared/events/schemas.ts';
import type { DeliveryRecord } from '../sim/delivery.ts';
import { verifyEvents } from '../sim/events.ts';

/** The simulator's events check finds what it is meant to find (test/sim/events.ts). */

const ID = 'srq_events_check';
const pk = keys.schedulingRequest(ID);
const delivered = [
  {
    notification: {
      label: 'x',
      type: null,
      body: Buffer.from(''),
      key: 'k',
      expect: { effect: 'state', pk },
    },
    outcome: 'accepted',
    requests: 1,
    duplicates: 0,
  },
] as unknown as DeliveryRecord[];

let sequence = 100;
function change(oldImage: Record<string, unknown> | undefined, newImage: Record<string, unknown>): _Record {
  sequence++;
  return {
    eventName: oldImage ? 'MODIFY' : 'INSERT',
    dynamodb: {
      Keys: { pk: { S: String(newImage.pk) } },
      SequenceNumber: String(sequence),
      ...(oldImage ? { OldImage: marshall(oldImage) } : {}),
      NewImage: marshall(newImage),
    },
  } as _Record;
}

const v1 = {
  pk,
  entity: 'scheduling_request',
  scheduling_request_id: ID,
  status: 'pending',
  updated_at: '2026-01-01T00:00:01.000Z',
  revision: 1,
};
const v2 = { ...v1, open_bucket: 'b', updated_at: '2026-01-01T00:00:02.000Z', revision: 2 }; // bookkeeping only
const v3 = { ...v2, status: 'time_chosen', updated_at: '2026-01-01T00:00:03.000Z', revision: 3 };
const stream = [change(undefined, v1), change(v1, v2), change(v2, v3)];
const [a, b] = stream.flatMap((record) => {
  const event = domainEventOfStreamRecord(record);
  return event ? [busEventOf(event, { id: 'x', account: '0', region: 'r' })] : [];
}) as [BusEvent, BusEvent];

describe('verifyEvents', () => {
  it('passes when each visible change was served once, in order', () => {
    expect(verifyEvents(delivered, stream, [a, b])).toMatchObject({
      expected: 2,
      served: 2,
      missing: 0,
      unexpected: 0,
      duplicates: 0,
      outOfOrder: 0,
      mismatched: 0,
    });
  });

  it('finds a missing, a duplicate, an out-of-order and an unexpected event', () => {
    expect(verifyEvents(delivered, stream, [a])).toMatchObject({ missing: 1 });
    expect(verifyEvents(delivered, stream, [a, a, b])).toMatchObject({ duplicates: 1 });
    expect(verifyEvents(delivered, stream, [b, a])).toMatchObject({ outOfOrder: 1 });
    const stray = { ...b, detail: { ...b.detail, event_id: 'f'.repeat(32) } };
    expect(verifyEvents(delivered, stream, [a, b, stray])).toMatchObject({ unexpected: 1 });
  });

  it('finds a change whose images show something new but the mapping made no event of', () => {
    const eventPk = keys.event('ev_1');
    const deliveredEvent = [
      {
        ...delivered[0],
        notification: { ...delivered[0]?.notification, expect: { effect: 'state', pk: eventPk } },
      },
    ] as unknown as DeliveryRecord[];
    const before = {
      pk: eventPk,
      entity: 'event',
      event_id: 'ev_1',
      start: 'a',
      updated_at: '2026-01-01T00:00:01.000Z',
    };
    const report = verifyEvents(deliveredEvent, [change(before, { ...before, start: 'b' })], []);
    expect(report.mismatched).toBe(1);
  });
});
