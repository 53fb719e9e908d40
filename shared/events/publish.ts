import type { BusEntry, EventPublisher, Logger } from '../core/ports.ts';
import {
  busEntryOf,
  domainEventOfStreamRecord,
  entrySize,
  PUT_EVENTS_MAX_BYTES,
  type StreamRecordLike,
} from './domain-events.ts';
import { recordIdOf } from './schemas.ts';

/**
 * The stream function's use case: a batch of stream records (one shard, in order) to events on the bus, in the
 * same order. PutEvents takes at most 10 entries and 256 KiB per request; the batch goes in such chunks, one
 * after the other (an event whose whole record would not fit in an entry comes reduced from the mapping, so no
 * entry is refused for its size). At the first entry the bus refuses, nothing later is put, and the answer
 * names that record: the event source mapping retries the batch from it (ReportBatchItemFailures), so an event
 * is never put before an earlier one of the same record. A retry puts again the events after it that were
 * already put in the same chunk: consumers drop those by `event_id`.
 */

export const PUT_EVENTS_MAX_ENTRIES = 10;

export interface StreamItem {
  /** What the event source mapping needs back to retry from this record: its sequence number. */
  itemIdentifier: string;
  record: StreamRecordLike;
}

export interface PublishDeps {
  publisher: EventPublisher;
  logger: Logger;
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
    if (event.detail.record_truncated)
      deps.logger.warn('event too large for the bus: put with its record reduced to its identity', {
        detailType: event['detail-type'],
        eventId: event.detail.event_id,
        recordId: recordIdOf(event.detail.record),
        tenantId: event.detail.tenant_id,
        sequenceNumber: item.itemIdentifier,
      });
    pending.push({ itemIdentifier: item.itemIdentifier, entry: busEntryOf(event) });
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
      (chunk.length === PUT_EVENTS_MAX_ENTRIES || bytes + size >= PUT_EVENTS_MAX_BYTES)
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
