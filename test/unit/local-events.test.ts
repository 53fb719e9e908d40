import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
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

describe('LocalEventBus, a record too large for an EventBridge entry', () => {
  it('serves the same reduced event as the bus gets, and says so on the console', () => {
    const stream = new EventEmitter() as unknown as StreamTail;
    const lines: string[] = [];
    const bus = new LocalEventBus(stream, { print: (line) => lines.push(line) });
    stream.emit(
      'change',
      change({
        entity: 'scheduling_request',
        scheduling_request_id: 'srq_big',
        status: 'time_chosen',
        metadata: { 'captured_data.notes': 'n'.repeat(300_000) },
        updated_at: '2026-01-01T00:00:00.000Z',
        revision: 1,
      }),
    );
    expect(bus.events()[0]?.detail).toMatchObject({
      record: {
        entity: 'scheduling_request',
        scheduling_request_id: 'srq_big',
        status: 'time_chosen',
        revision: 1,
      },
      record_truncated: true,
    });
    expect(bus.events()[0]?.detail.record).not.toHaveProperty('metadata');
    expect(lines).toEqual([
      expect.stringMatching(
        /^scheduling_request\.time_chosen "?srq_big"? event_id=[0-9a-f]{32} record_truncated$/,
      ),
    ]);
    bus.stop();
  });
});

/** A response as `serve` uses it, whose client never reads: everything written stays in its buffer. */
class StalledResponse extends EventEmitter {
  writableLength = 0;
  destroyed = false;
  ended = false;
  writeHead(_status?: number) {
    return this;
  }
  write(chunk: string) {
    if (this.destroyed || this.ended) return false;
    this.writableLength += Buffer.byteLength(chunk);
    return false;
  }
  end() {
    this.ended = true;
    this.emit('close');
    return this;
  }
  destroy() {
    this.destroyed = true;
    this.emit('close');
    return this;
  }
}

describe('GET /_local/events', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  const request = (i: number, status = 'time_chosen') =>
    change({
      entity: 'scheduling_request',
      scheduling_request_id: `srq_${i}`,
      status,
      metadata: { note: 'x'.repeat(10_000) },
      updated_at: '2026-01-01T00:00:00.000Z',
    });
  const serve = (bus: LocalEventBus, res: StalledResponse, headers: Record<string, string> = {}) =>
    bus.serve({ headers } as never, res as unknown as ServerResponse, new URLSearchParams());

  it('drops a client that reads nothing, instead of buffering every later event for it', () => {
    vi.useFakeTimers();
    const stream = new EventEmitter() as unknown as StreamTail;
    const bus = new LocalEventBus(stream);
    const stalled = new StalledResponse();
    serve(bus, stalled);
    // ~10 MB at once: a burst that a client reading along would drain.
    for (let i = 0; i < 1000; i++) stream.emit('change', request(i));
    expect(stalled.destroyed).toBe(false);
    // Still unread a keep-alive period later: it stopped reading.
    vi.advanceTimersByTime(15_000);
    expect(stalled.destroyed).toBe(true);
    expect(bus.listenerCount('event')).toBe(0);
    // Nothing more is buffered for it.
    const held = stalled.writableLength;
    for (let i = 0; i < 10; i++) stream.emit('change', request(i, 'declined'));
    expect(stalled.writableLength).toBe(held);
    bus.stop();
  });

  it('keeps a client that drains its buffer between keep-alives', () => {
    vi.useFakeTimers();
    const stream = new EventEmitter() as unknown as StreamTail;
    const bus = new LocalEventBus(stream);
    const reading = new StalledResponse();
    serve(bus, reading);
    for (let i = 0; i < 1000; i++) stream.emit('change', request(i));
    reading.writableLength = 0;
    vi.advanceTimersByTime(15_000);
    expect(reading.destroyed).toBe(false);
    bus.stop();
  });

  it('drops at once a client holding more than 64 MiB unread, during a replay of kept events too', () => {
    const stream = new EventEmitter() as unknown as StreamTail;
    const bus = new LocalEventBus(stream);
    const big = (i: number) =>
      change({
        entity: 'scheduling_request',
        scheduling_request_id: `srq_${i}`,
        status: 'declined',
        // Each event under EventBridge's entry limit, so it keeps its whole record.
        metadata: { note: 'y'.repeat(200_000) },
        updated_at: '2026-01-01T00:00:00.000Z',
      });
    for (let i = 0; i < 400; i++) stream.emit('change', big(i));
    const stalled = new StalledResponse();
    serve(bus, stalled, { 'last-event-id': '0' });
    expect(stalled.destroyed).toBe(true);
    expect(stalled.writableLength).toBeLessThan(65 * 1024 * 1024);
    expect(bus.listenerCount('event')).toBe(0);
    bus.stop();
  });

  it('serves many clients at once without an EventEmitter leak warning', async () => {
    const stream = new EventEmitter() as unknown as StreamTail;
    const bus = new LocalEventBus(stream);
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 20; i++) serve(bus, new StalledResponse());
      await new Promise((resolve) => setImmediate(resolve));
      expect(bus.listenerCount('event')).toBe(20);
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      bus.stop();
    }
  });

  /** A response that keeps its status and what was written. */
  class RecordingResponse extends StalledResponse {
    status = 0;
    text = '';
    override writeHead(status?: number) {
      this.status = status ?? 0;
      return this;
    }
    override write(chunk: string) {
      this.text += chunk;
      return super.write(chunk);
    }
    override end(chunk?: string) {
      if (chunk) this.text += chunk;
      return super.end();
    }
  }
  const served = (bus: LocalEventBus, query: string) => {
    const res = new RecordingResponse();
    const status = bus.serve(
      { headers: {} } as never,
      res as unknown as ServerResponse,
      new URLSearchParams(query),
    );
    return { res, status, types: () => [...res.text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]) };
  };

  it('filters by every detail_type given, in one comma list or repeated, ignoring empty names', () => {
    const stream = new EventEmitter() as unknown as StreamTail;
    const bus = new LocalEventBus(stream);
    const repeated = served(
      bus,
      'detail_type=scheduling_request.declined&detail_type=scheduling_request.time_chosen',
    );
    const commas = served(bus, 'detail_type=,scheduling_request.declined,,scheduling_request.time_chosen,');
    const empty = served(bus, 'detail_type=');
    const one = served(bus, 'detail_type=scheduling_request.declined');
    stream.emit('change', request(1));
    stream.emit('change', request(2, 'declined'));
    stream.emit('change', request(3, 'cancelled'));
    const both = ['scheduling_request.time_chosen', 'scheduling_request.declined'];
    expect(repeated.types()).toEqual(both);
    expect(commas.types()).toEqual(both);
    expect(empty.types()).toEqual([...both, 'scheduling_request.cancelled']);
    expect(one.types()).toEqual(['scheduling_request.declined']);
    bus.stop();
  });

  it('answers 400 listing the detail-types for a name that is none, instead of a stream that stays silent', () => {
    const stream = new EventEmitter() as unknown as StreamTail;
    const bus = new LocalEventBus(stream);
    const typo = served(bus, `detail_type=scheduling_request.time_chosen,scheduling_request.booked`);
    expect(typo.status).toBe(400);
    expect(typo.res.status).toBe(400);
    expect(typo.res.ended).toBe(true);
    expect(JSON.parse(typo.res.text)).toEqual({
      message: expect.stringContaining('no detail-type named scheduling_request.booked;'),
      unknown: ['scheduling_request.booked'],
      detail_types: expect.arrayContaining(['scheduling_request.time_chosen', 'event_trigger.fired']),
    });
    expect(bus.listenerCount('event')).toBe(0);
    expect(served(bus, 'detail_type=scheduling_request.time_chosen').status).toBe(200);
    bus.stop();
  });
});
