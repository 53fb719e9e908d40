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
 * entry is refused for its size). PutEvents is not atomic: it can refuse one entry and accept the next, so a
 * chunk never holds two events of the same record, and the entries the bus refused (throttling, an internal
 * failure) are put again, only they, in order, before the next chunk. When they are still refused after the last
 * attempt, nothing later is put and the answer names the first of them: the event source mapping retries the
 * batch from it (ReportBatchItemFailures), so an event is never put before an earlier one of the same record. A
 * retry puts again the events after it that were already put in the same chunk: consumers drop those by
 * `event_id`.
 */

/** Attempts at a chunk's refused entries within one invocation, and the wait before the second (doubling). */
export const PUT_ATTEMPTS = 3;
const RETRY_BASE_MS = 100;

export const PUT_EVENTS_MAX_ENTRIES = 10;

export interface StreamItem {
  /** What the event source mapping needs back to retry from this record: its sequence number. */
  itemIdentifier: string;
  record: StreamRecordLike;
}

export interface PublishDeps {
  publisher: EventPublisher;
  logger: Logger;
  /** Waits between attempts at refused entries; tests pass one that does not wait. */
  sleep?: (ms: number) => Promise<void>;
}

interface Pending {
  itemIdentifier: string;
  /** The record the event is of (entity and id): one chunk holds at most one event per record. */
  recordKey: string;
  entry: BusEntry;
}

/** The item identifier of the first record whose event was not put, or undefined when all were. */
export async function publishStreamBatch(
  items: readonly StreamItem[],
  deps: PublishDeps,
): Promise<string | undefined> {
  const pending: Pending[] = [];
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
    pending.push({
      itemIdentifier: item.itemIdentifier,
      recordKey: `${event.detail.record.entity}\u0000${recordIdOf(event.detail.record)}`,
      entry: busEntryOf(event),
    });
  }
  let put = 0;
  for (const chunk of chunks(pending)) {
    const refused = await putChunk(chunk, deps, put);
    if (refused !== undefined) return refused;
    put += chunk.length;
  }
  deps.logger.debug('events put', { records: items.length, events: put });
  return undefined;
}

/**
 * Puts one chunk, again and again for the entries the bus refused (only they, in order), up to PUT_ATTEMPTS. The
 * item identifier of the first entry still not put, or undefined when all were.
 */
async function putChunk(chunk: Pending[], deps: PublishDeps, put: number): Promise<string | undefined> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let left = chunk;
  for (let attempt = 1; ; attempt++) {
    let answers: Array<string | undefined>;
    try {
      answers = await deps.publisher.put(left.map((p) => p.entry));
    } catch (error) {
      // The SDK has already retried the request as a whole.
      deps.logger.error('putting events failed', { error: (error as Error).name, put });
      return left[0]?.itemIdentifier;
    }
    const refused = left.filter((_, i) => answers[i] !== undefined);
    if (refused.length === 0) return undefined;
    const first = answers.findIndex((answer) => answer !== undefined);
    if (attempt === PUT_ATTEMPTS) {
      deps.logger.error('the event bus refused an event', {
        error: answers[first],
        detailType: left[first]?.entry.detailType,
        refused: refused.length,
        attempts: attempt,
        put,
      });
      return refused[0]?.itemIdentifier;
    }
    deps.logger.warn('the event bus refused events: putting them again', {
      error: answers[first],
      refused: refused.length,
      attempt,
    });
    await sleep(RETRY_BASE_MS * 2 ** (attempt - 1));
    left = refused;
  }
}

/** Chunks PutEvents takes (PUT_EVENTS_MAX_ENTRIES, PUT_EVENTS_MAX_BYTES), each with one event per record at most. */
function* chunks(items: Pending[]): Generator<Pending[]> {
  let chunk: Pending[] = [];
  let records = new Set<string>();
  let bytes = 0;
  for (const item of items) {
    const size = entrySize(item.entry);
    if (
      chunk.length > 0 &&
      (chunk.length === PUT_EVENTS_MAX_ENTRIES ||
        bytes + size >= PUT_EVENTS_MAX_BYTES ||
        records.has(item.recordKey))
    ) {
      yield chunk;
      chunk = [];
      records = new Set();
      bytes = 0;
    }
    chunk.push(item);
    records.add(item.recordKey);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
