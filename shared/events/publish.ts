import type { BusEntry, EventPublisher, Logger } from '../core/ports.ts';
import { domainEventOfStreamRecord, type StreamRecordLike } from './domain-events.ts';

/**
 * The stream function's use case: a batch of stream records (one shard, in order) to events on the bus, in the
 * same order. PutEvents takes at most 10 entries and 256 KiB per request; the batch goes in such chunks, one
 * after the other. At the first entry the bus refuses, nothing later is put, and the answer names that
 * record: the event source mapping retries the batch from it (ReportBatchItemFailures), so an event is never
 * put before an earlier one of the same record. A retry puts again the events after it that were already put
 * in the same chunk: consumers drop those by `event_id`.
 */

export const PUT_EVENTS_MAX_ENTRIES = 10;
/** PutEvents' limit on the total size of one request's entries (and so of one entry). */
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;

export interface StreamItem {
  /** What the event source mapping needs back to retry from this record: its sequence number. */
  itemIdentifier: string;
  record: StreamRecordLike;
}

export interface PublishDeps {
  publisher: EventPublisher;
  logger: Logger;
}

/** How PutEvents counts an entry's size. */
export function entrySize(entry: BusEntry): number {
  return (
    Buffer.byteLength(entry.source) +
    Buffer.byteLength(entry.detailType) +
    Buffer.byteLength(entry.detail) +
    14 // the Time field
  );
}

/** The item identifier of the first record whose event was not put, or undefined when all were. */
export async function publishStreamBatch(
  items: readonly StreamItem[],
  deps: PublishDeps,
): Promise<string | undefined> {
  const pending: Array<{ itemIdentifier: string; entry: BusEntry }> = [];
  for (const item of items) {
    const event = domainEventOfStreamRecord(item.record);
    if (!event) continue;
    pending.push({
      itemIdentifier: item.itemIdentifier,
      entry: {
        source: event.source,
        detailType: event['detail-type'],
        detail: JSON.stringify(event.detail),
        time: event.time,
      },
    });
  }
  let put = 0;
  for (const chunk of chunks(pending)) {
    let answers: Array<string | undefined>;
    try {
      answers = await deps.publisher.put(chunk.map((p) => p.entry));
    } catch (error) {
      deps.logger.error('putting events failed', { error: (error as Error).name, put });
      return chunk[0]?.itemIdentifier;
    }
    const failed = answers.findIndex((answer) => answer !== undefined);
    if (failed !== -1) {
      const first = chunk[failed];
      deps.logger.error('the event bus refused an event', {
        error: answers[failed],
        detailType: first?.entry.detailType,
        put: put + failed,
      });
      return first?.itemIdentifier;
    }
    put += chunk.length;
  }
  deps.logger.debug('events put', { records: items.length, events: put });
  return undefined;
}

function* chunks<T extends { entry: BusEntry }>(items: T[]): Generator<T[]> {
  let chunk: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = entrySize(item.entry);
    if (
      chunk.length > 0 &&
      (chunk.length === PUT_EVENTS_MAX_ENTRIES || bytes + size > PUT_EVENTS_MAX_BYTES)
    ) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(item);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
