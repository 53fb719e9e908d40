import { fileURLToPath } from 'node:url';
import { type CronofyEvent, parseCronofyEvent } from './consumer-types.ts';

/**
 * An example consumer of the downstream events, written as one in another repository would be: it imports only
 * the self-contained ./consumer-types.ts. `handle` is what a rule's target runs (an SQS message body or a
 * Lambda's event is the event itself); run this file to watch local mode:
 *
 *   node --import tsx shared/events/example-consumer.ts http://127.0.0.1:3000/_local/events
 *
 * It drops EventBridge's at-least-once duplicates by `detail.event_id`, and a state older than one already
 * handled by `record.revision` (a bus does not deliver in order). A real consumer keeps both in its own
 * store (a conditional write on the record's id and revision), not in memory. An event with
 * `detail.record_truncated` carries only the record's identity: read the record from the table or the stream.
 */

export interface Consumer {
  /** `applied`, or why the event changed nothing. */
  handle(value: unknown): 'applied' | 'not ours' | 'duplicate' | 'older';
}

export function exampleConsumer(apply: (event: CronofyEvent) => void): Consumer {
  const seen = new Set<string>();
  const revisions = new Map<string, number>();
  return {
    handle(value) {
      const event = parseCronofyEvent(value);
      if (!event) return 'not ours';
      if (seen.has(event.detail.event_id)) return 'duplicate';
      seen.add(event.detail.event_id);
      const record = event.detail.record;
      // Event triggers are one record per firing: nothing to order.
      if (record.entity !== 'event_trigger') {
        // A record is its entity and id within its tenant: an `event`'s id is the integrator's own, so two
        // tenants can share one.
        const id = JSON.stringify([
          record.entity,
          record.tenant_id ?? null,
          record.entity === 'event' ? record.event_id : record.scheduling_request_id,
        ]);
        const revision = record.revision ?? 0;
        if (revision < (revisions.get(id) ?? -1)) return 'older';
        revisions.set(id, revision);
      }
      apply(event);
      return 'applied';
    },
  };
}

function describe(event: CronofyEvent): string {
  const { record } = event.detail;
  switch (record.entity) {
    case 'scheduling_request':
      return `${event['detail-type']} ${record.scheduling_request_id} status=${record.status ?? '-'}`;
    case 'event':
      return `${event['detail-type']} ${record.event_id} conferencing=${record.conferencing?.status ?? '-'}`;
    case 'event_trigger':
      return `${event['detail-type']} ${record.event_id} target=${record.target_time ?? '-'}`;
  }
}

/** Reads a Server-Sent Events stream and hands every `data:` line's event to the consumer. */
async function watch(url: string): Promise<void> {
  const consumer = exampleConsumer((event) => console.log(describe(event)));
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new Error(`${url} answered ${response.status}`);
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('data: ')) consumer.handle(JSON.parse(line.slice(6)));
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  watch(process.argv[2] ?? 'http://127.0.0.1:3000/_local/events').catch((error: unknown) => {
    console.error((error as Error).message);
    process.exitCode = 1;
  });
}
