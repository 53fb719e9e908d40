import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { busEventOf, domainEventOfStreamRecord } from '#shared/events/domain-events.ts';
import { type BusEvent, DETAIL_TYPES, recordIdOf } from '#shared/events/schemas.ts';
import { LOCAL_REGION } from '../local-mode.ts';
import { printable } from './log.ts';
import type { StreamChange, StreamTail } from './stream.ts';

/**
 * Local mode's event bus: every stream record goes through the same mapping as in AWS
 * (shared/events/domain-events.ts), and each event is shaped as EventBridge delivers it to a target. Watch them
 * with `curl -N <gateway>/_local/events` (Server-Sent Events) and on the console, one line each (detail-type,
 * record id, event id: never the record, it holds personal data).
 */

const LOCAL_ACCOUNT = '000000000000';
const KEEP_ALIVE_MS = 15_000;
/**
 * A client that stops reading would otherwise keep every later event in memory. One still holding more than
 * STALLED_BYTES unread at a keep-alive tick is dropped (a burst written at once to a client that reads drains
 * long before), and one holding more than MAX_UNREAD_BYTES at once. A reconnecting EventSource resumes from the
 * kept events with `Last-Event-ID`.
 */
const STALLED_BYTES = 1024 * 1024;
const MAX_UNREAD_BYTES = 64 * 1024 * 1024;

export function describeEvent(event: BusEvent): string {
  const line = `${event['detail-type']} ${printable(recordIdOf(event.detail.record))} event_id=${event.detail.event_id}`;
  return event.detail.record_truncated ? `${line} record_truncated` : line;
}

export interface LocalEventsOptions {
  /** One line per event; omit to stay silent. */
  print?: (line: string) => void;
  /** Events kept for `Last-Event-ID` resumption and `events()`. */
  historySize?: number;
}

interface Numbered {
  seq: number;
  event: BusEvent;
}

export class LocalEventBus extends EventEmitter<{ event: [BusEvent, number] }> {
  private readonly history: Numbered[] = [];
  private readonly open = new Set<ServerResponse>();
  private seq = 0;
  private readonly listener = (change: StreamChange) => this.onChange(change);

  constructor(
    private readonly stream: StreamTail,
    private readonly options: LocalEventsOptions = {},
  ) {
    super();
    // One listener per open `/_local/events` response: any number of them is expected, not a leak.
    this.setMaxListeners(0);
    stream.on('change', this.listener);
  }

  /** Events published so far (the most recent `historySize`), oldest first. */
  events(): BusEvent[] {
    return this.history.map((entry) => entry.event);
  }

  /** Stops mapping and ends every open `/_local/events` response (a stream never ends on its own). */
  stop(): void {
    this.stream.off('change', this.listener);
    for (const res of this.open) res.end();
  }

  private onChange(change: StreamChange): void {
    const event = domainEventOfStreamRecord(change.record);
    if (!event) return;
    const bus = busEventOf(event, { id: randomUUID(), account: LOCAL_ACCOUNT, region: LOCAL_REGION });
    this.history.push({ seq: ++this.seq, event: bus });
    if (this.history.length > (this.options.historySize ?? 1000)) this.history.shift();
    this.options.print?.(describeEvent(bus));
    this.emit('event', bus, this.seq);
  }

  /**
   * `GET /_local/events`: one SSE message per event (`id:` a sequence number, `event:` the detail-type,
   * `data:` the whole event as JSON), from now on; with `Last-Event-ID` (a reconnecting EventSource sends it)
   * first the kept events after that one. `?detail_type=a,b` (or the parameter repeated) keeps only those
   * detail-types; a name that is none answers 400 with the list, rather than a stream that never says a word.
   * Answers the status it wrote.
   */
  serve(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): number {
    const wanted = query
      .getAll('detail_type')
      .flatMap((value) => value.split(','))
      .map((name) => name.trim())
      .filter(Boolean);
    const unknown = wanted.filter((name) => !(DETAIL_TYPES as readonly string[]).includes(name));
    if (unknown.length > 0) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          message: `detail_type: no detail-type named ${unknown.join(', ')}; give one or more of detail_types, comma-separated or repeated`,
          unknown,
          detail_types: DETAIL_TYPES,
        }),
      );
      return 400;
    }
    const keep = (event: BusEvent) => wanted.length === 0 || wanted.includes(event['detail-type']);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    const send = (seq: number, event: BusEvent) => {
      if (!keep(event) || res.destroyed) return;
      res.write(`id: ${seq}\nevent: ${event['detail-type']}\ndata: ${JSON.stringify(event)}\n\n`);
      if (res.writableLength > MAX_UNREAD_BYTES) res.destroy();
    };
    const onEvent = (event: BusEvent, seq: number) => send(seq, event);
    const keepAlive = setInterval(() => {
      if (res.writableLength > STALLED_BYTES) res.destroy();
      else res.write(': keep-alive\n\n');
    }, KEEP_ALIVE_MS);
    keepAlive.unref();
    // Before anything is written: a client dropped while the kept events are replayed is cleaned up too.
    this.on('event', onEvent);
    this.open.add(res);
    res.once('close', () => {
      this.open.delete(res);
      clearInterval(keepAlive);
      this.off('event', onEvent);
    });
    res.write(': cronofy.notifications events\n\n');
    const lastId = Number(req.headers['last-event-id']);
    if (Number.isInteger(lastId))
      for (const entry of this.history) if (entry.seq > lastId) send(entry.seq, entry.event);
    return 200;
  }
}
