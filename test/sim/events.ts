import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { canonicalJson, domainEventOfStreamRecord } from '#shared/events/domain-events.ts';
import { BOOKKEEPING, type BusEvent } from '#shared/events/schemas.ts';
import type { SseSubscription } from '../support/sse.ts';
import type { DeliveryRecord } from './delivery.ts';
import type { Finding } from './verify.ts';

/**
 * After a run against local mode: the downstream events `GET /_local/events` served, against the table's
 * stream. For every state and event_trigger record of the run, change by change (stream order):
 * - a change that shows something new (any field but bookkeeping, `revision` and the fields saying where the
 *   values came from) has exactly one event, and a change that does not (a duplicate, a replay, a rewrite of
 *   bookkeeping) has none: judged here from the images, not by the mapping;
 * - the events served for a record are the mapping's events for its changes, each once, in stream order.
 */

export interface EventsReport {
  /** Events the run's changes should have produced. */
  expected: number;
  /** Events served for the run's records. */
  served: number;
  missing: number;
  /** Served, but no change of the run's records means it. */
  unexpected: number;
  /** Served more than once (the same event_id). */
  duplicates: number;
  /** Served in another order than their records' changes. */
  outOfOrder: number;
  /** Changes where the mapping and the images disagree on whether there is something to tell. */
  mismatched: number;
  findings: Finding[];
}

const MAX_FINDINGS = 20;
/** Where the values came from: listed in `changed` when they move, but on their own not news. */
const PROVENANCE = ['triggered_at', 'participants_triggered_at', 'last_notification_type', 'reconciled_at'];

function image(record: _Record, which: 'NewImage' | 'OldImage'): Record<string, unknown> | undefined {
  const raw = record.dynamodb?.[which];
  return raw ? unmarshall(raw as Record<string, AttributeValue>) : undefined;
}

/** Whether a change shows a reader anything new, from the images alone. */
function showsSomethingNew(record: _Record): boolean {
  if (record.eventName === 'REMOVE') return false;
  const after = image(record, 'NewImage');
  const before = image(record, 'OldImage');
  const entity = String(after?.entity);
  if (entity === 'event_trigger') return before === undefined;
  const hidden = new Set<string>([
    ...(BOOKKEEPING[entity as keyof typeof BOOKKEEPING] ?? []),
    ...PROVENANCE,
    'revision',
    'pk',
    'lifecycle_untimed',
    'participants_untimed',
    'conferencing_untimed',
  ]);
  const names = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  return [...names].some(
    (name) => !hidden.has(name) && canonicalJson(before?.[name]) !== canonicalJson(after?.[name]),
  );
}

const bySequence = (a: _Record, b: _Record) => {
  const x = a.dynamodb?.SequenceNumber ?? '';
  const y = b.dynamodb?.SequenceNumber ?? '';
  return x.length - y.length || (x < y ? -1 : x > y ? 1 : 0);
};

/** The pks of the records the run's notifications change. */
function runPks(records: readonly DeliveryRecord[]): Set<string> {
  return new Set(
    records.flatMap(({ notification: { expect } }) =>
      expect.effect === 'state' ? [expect.pk] : expect.effect === 'triggers' ? expect.pks : [],
    ),
  );
}

/** The mapping's event ids per record of the run, in stream order; and the changes it disagrees with the images on. */
function expectedEvents(records: readonly DeliveryRecord[], stream: readonly _Record[]) {
  const pks = runPks(records);
  const expected = new Map<string, string[]>(); // pk → event ids
  const ids = new Set<string>(); // the records' scheduling_request_id / event_id
  const mismatches: Finding[] = [];
  for (const record of [...stream].sort(bySequence)) {
    const pk = record.dynamodb?.Keys?.pk?.S;
    if (pk === undefined || !pks.has(pk)) continue;
    const shown = image(record, 'NewImage') ?? image(record, 'OldImage');
    const id = shown?.scheduling_request_id ?? shown?.event_id;
    if (typeof id === 'string') ids.add(id);
    const event = domainEventOfStreamRecord(record);
    if ((event !== undefined) !== showsSomethingNew(record))
      mismatches.push({
        label: pk,
        key: record.dynamodb?.SequenceNumber ?? '',
        problem: event
          ? `${event['detail-type']} for a change that shows nothing new`
          : 'no event for a change',
      });
    if (event) expected.set(pk, [...(expected.get(pk) ?? []), event.detail.event_id]);
  }
  return { expected, ids, mismatches };
}

export function verifyEvents(
  records: readonly DeliveryRecord[],
  stream: readonly _Record[],
  served: readonly BusEvent[],
): EventsReport {
  const { expected, ids: runIds, mismatches } = expectedEvents(records, stream);
  const report: EventsReport = {
    expected: [...expected.values()].reduce((sum, ids) => sum + ids.length, 0),
    served: 0,
    missing: 0,
    unexpected: 0,
    duplicates: 0,
    outOfOrder: 0,
    mismatched: mismatches.length,
    findings: mismatches.slice(0, MAX_FINDINGS),
  };
  const find = (
    kind: 'missing' | 'unexpected' | 'duplicates' | 'outOfOrder',
    label: string,
    key: string,
    problem: string,
  ) => {
    report[kind]++;
    if (report.findings.length < MAX_FINDINGS) report.findings.push({ label, key, problem });
  };
  const positions = new Map<string, number[]>(); // event id → positions served
  served.forEach((event, position) => {
    positions.set(event.detail.event_id, [...(positions.get(event.detail.event_id) ?? []), position]);
  });
  const ofRun = new Set([...expected.values()].flat());
  // Served events for the run's records that no change explains (the run's ids are unique to it).
  for (const event of served) {
    const record = event.detail.record as { scheduling_request_id?: string; event_id?: string };
    const id = record.scheduling_request_id ?? record.event_id ?? '';
    if (!runIds.has(id)) continue;
    report.served++;
    if (!ofRun.has(event.detail.event_id))
      find('unexpected', id, event.detail.event_id, `${event['detail-type']} served, no change means it`);
  }
  for (const [pk, ids] of expected) {
    let last = -1;
    for (const id of ids) {
      const at = positions.get(id) ?? [];
      if (at.length === 0) {
        find('missing', pk, id, 'event not served');
        continue;
      }
      if (at.length > 1) find('duplicates', pk, id, `served ${at.length} times`);
      if ((at[0] as number) < last)
        find('outOfOrder', pk, id, 'served before an earlier change of its record');
      last = Math.max(last, at[0] as number);
    }
  }
  return report;
}

/** Wait (up to `timeoutMs`) until every event the run's changes mean has been served, then judge. */
export async function checkServedEvents(
  records: readonly DeliveryRecord[],
  stream: readonly _Record[],
  subscription: SseSubscription,
  timeoutMs: number,
): Promise<EventsReport> {
  const served = () => subscription.messages.map((message) => JSON.parse(message.data) as BusEvent);
  const { expected } = expectedEvents(records, stream);
  const wanted = [...expected.values()].flat();
  await subscription
    .until((messages) => {
      const ids = new Set(messages.map((message) => (JSON.parse(message.data) as BusEvent).detail.event_id));
      return wanted.every((id) => ids.has(id));
    }, timeoutMs)
    .catch(() => undefined); // counted as missing below
  return verifyEvents(records, stream, served());
}

export function eventsOk(report: EventsReport): boolean {
  return (
    report.missing === 0 &&
    report.unexpected === 0 &&
    report.duplicates === 0 &&
    report.outOfOrder === 0 &&
    report.mismatched === 0
  );
}
