import { EventEmitter } from 'node:events';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { LocalEventBus } from '../../infra/local/events.ts';
import type { StreamChange, StreamTail } from '../../infra/local/stream.ts';

/** Local mode's bus: the stream's changes through the mapping, one console line per event, never a payload. */

function change(
  image: Record<string, unknown>,
  eventName: StreamChange['eventName'] = 'INSERT',
): StreamChange {
  return {
    eventName,
    pk: 'x',
    entity: String(image.entity),
    newImage: image,
    oldImage: undefined,
    record: { eventName, dynamodb: { NewImage: marshall(image) } },
  } as StreamChange;
}

describe('LocalEventBus', () => {
  it('maps each stream change, keeps the events, prints one line each with ids only', () => {
    const stream = new EventEmitter() as unknown as StreamTail;
    const lines: string[] = [];
    const bus = new LocalEventBus(stream, { print: (line) => lines.push(line) });
    const request = {
      entity: 'scheduling_request',
      scheduling_request_id: 'srq 1\u001b[31m',
      status: 'declined',
      metadata: { 'captured_data.phone_number': '+44 7700 900123' },
      updated_at: '2026-01-01T00:00:00.000Z',
    };
    stream.emit('change', change(request));
    stream.emit(
      'change',
      change({ entity: 'redirect', step: 'time_chosen', at: '2026-01-01T00:00:00.000Z' }),
    );
    stream.emit('change', change(request, 'REMOVE'));
    expect(bus.events().map((event) => event['detail-type'])).toEqual(['scheduling_request.declined']);
    expect(bus.events()[0]).toMatchObject({
      version: '0',
      account: '000000000000',
      time: '2026-01-01T00:00:00Z',
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^scheduling_request\.declined "srq 1\\u001b\[31m" event_id=[0-9a-f]{32}$/);
    expect(lines[0]).not.toContain('7700');
    bus.stop();
    stream.emit('change', change({ ...request, status: 'cancelled' }));
    expect(bus.events()).toHaveLength(1);
  });
});
