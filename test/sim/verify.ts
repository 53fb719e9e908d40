import { isDeepStrictEqual } from 'node:util';
import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  DescribeTableCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { rawBody, withContractBody } from '#shared/contract/body-codec.ts';
import {
  ASPECTS,
  type AspectName,
  appliedKey,
  aspectOrder,
  ENTITY_ASPECTS,
  orderRank,
} from '#shared/contract/ordering.ts';
import { keys } from '#shared/contract/records.ts';
import { SCHEDULING_REQUEST_TYPES } from '#shared/notifications/cronofy-schemas.ts';
import { readStream } from '../support/stream-reader.ts';
import type { DeliveryRecord } from './delivery.ts';
import type { SimNotification } from './scenarios.ts';

/**
 * After a run: did every notification the simulator got accepted have exactly one effect?
 *
 * The idempotency key is the body's digest, so every delivery of the same bytes (a duplicate, a retry, a
 * replay under a fresh `Cronofy-Notification-ID`) is one notification. Per accepted notification:
 * - a `notification` record exists under its key, holding the body verbatim (lost otherwise), and its
 *   `cronofy_notification_id`, if any, is one of the header ids sent with that body;
 * - a state notification is recorded `applied` or `stale` (stale: newer state was already there, or it was
 *   applied and then overtaken after a crash — both correct); when it was sent with the time its record
 *   ends at for an aspect it carries, its key is among that aspect's `*_applied` keys, never twice;
 * - an Event Trigger's `event_trigger` records exist (several bodies may map to one record: the same
 *   transition for the same event times);
 * - a body that cannot be applied is kept with status `unparseable` / `unknown_type`.
 *
 * And per state record and aspect ("regressed" otherwise): the aspect ends at the newest time sent for it,
 * showing the values of the last notification applied at that time. The expected times come from the
 * bodies, independently of the worker's planner: lifecycle = every `scheduling_request_*` type, `event_start`
 * and `event_end`; participants = `event_participant_status_changed`, and a lifecycle step whose event lists
 * a host or attendees; conferencing = an event subscription with a conferencing interaction. A notification
 * without `triggered_at` is ordered by its receipt time, which the simulator does not know exactly (a
 * duplicate is received later than its original): it is left out of the time checks, and only allows an
 * aspect to end later than the newest `triggered_at` sent.
 *
 * The table shows the end state; the stream (local mode) shows every change, so it also catches an effect
 * applied twice and then overwritten, and an aspect that went back in time and forward again.
 */

export interface Finding {
  label: string;
  key: string;
  problem: string;
}

export interface VerifyReport {
  /** Accepted notifications checked (each delivery of a replayed body counts). */
  checked: number;
  /** Applied exactly once. */
  applied: number;
  /** Recorded as stale: a newer notification for the same record was applied first (correct, not lost). */
  stale: number;
  /** Kept without a state change, as expected (unparseable, unknown type). */
  keptOnly: number;
  lost: number;
  doubleApplied: number;
  /** (Record, aspect) pairs that do not end at the newest time sent for them. */
  regressed: number;
  /** Present, but not as expected (wrong status, body not verbatim, values of another notification). */
  wrong: number;
  /** Never answered 2xx but recorded anyway (a request that timed out after the queue had it). */
  givenUpButRecorded: number;
  waitedMs: number;
  /** The first findings (lost, double, regressed, wrong), for a human to start from. */
  findings: Finding[];
}

export interface VerifyOptions {
  client: Pick<DynamoDBClient, 'send'>;
  tableName: string;
  /** How long to wait for the pipeline to catch up before counting a notification lost. */
  timeoutMs?: number;
  pollMs?: number;
}

type Item = Record<string, unknown>;
const MAX_FINDINGS = 20;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** BatchGetItem by partition key, 100 at a time, consistent reads, retrying unprocessed keys. */
export async function getItems(
  client: Pick<DynamoDBClient, 'send'>,
  tableName: string,
  pks: readonly string[],
) {
  const found = new Map<string, Item>();
  const unique = [...new Set(pks)];
  for (let i = 0; i < unique.length; i += 100) {
    let request: Record<string, AttributeValue>[] | undefined = unique
      .slice(i, i + 100)
      .map((pk) => ({ pk: { S: pk } }));
    for (let round = 0; request && request.length > 0; round++) {
      if (round > 0) await sleep(Math.min(1000, 50 * 2 ** round));
      const result: BatchGetItemCommandOutput = await client.send(
        new BatchGetItemCommand({ RequestItems: { [tableName]: { Keys: request, ConsistentRead: true } } }),
      );
      for (const raw of result.Responses?.[tableName] ?? []) {
        // A notification's body as the records contract has it (decompressed).
        const item = withContractBody(unmarshall(raw));
        found.set(String(item.pk), item);
      }
      request = result.UnprocessedKeys?.[tableName]?.Keys;
    }
  }
  return found;
}

/** What a body says about the state it changes, read from the body itself (not through the worker's planner). */
export interface Sent {
  aspects: AspectName[];
  /** `triggered_at` as the worker orders it (UTC, milliseconds); undefined when absent. */
  at?: string;
  /** Lifecycle status the body sets. */
  status?: string;
  /** `scheduling_request.event` of the body (start, attendees, …). */
  event?: Item;
  /** Conferencing status the body sets (`assigned` / `failing`). */
  conferencing?: string;
}

const LIFECYCLE_STATUS = (type: string) =>
  type === 'event_start'
    ? 'event_started'
    : type === 'event_end'
      ? 'event_ended'
      : type.replace(/^scheduling_request_/, '');

function parseBody(body: Buffer): Item | undefined {
  try {
    const json = JSON.parse(body.toString('utf8'));
    return json && typeof json === 'object' ? (json as Item) : undefined;
  } catch {
    return undefined;
  }
}

export function sentState(body: Buffer): Sent {
  const json = parseBody(body);
  const notification = (json?.notification ?? {}) as Item;
  const type = String(notification.type);
  const ms = typeof notification.triggered_at === 'string' ? Date.parse(notification.triggered_at) : NaN;
  const at = Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
  if ((SCHEDULING_REQUEST_TYPES as readonly string[]).includes(type)) {
    const event = ((json?.scheduling_request as Item | undefined)?.event ?? undefined) as Item | undefined;
    const participants = event && (event.host !== undefined || event.attendees !== undefined);
    // Without a host or attendees it carries nothing (kept unparseable).
    if (type === 'event_participant_status_changed')
      return { aspects: participants ? ['participants'] : [], at, ...(event ? { event } : {}) };
    return {
      aspects: participants ? ['lifecycle', 'participants'] : ['lifecycle'],
      at,
      status: LIFECYCLE_STATUS(type),
      ...(event ? { event } : {}),
    };
  }
  const interactions = Array.isArray(notification.interactions) ? (notification.interactions as Item[]) : [];
  const last = interactions
    .filter((i) => i.type === 'conferencing_assigned' || i.type === 'conferencing_failing')
    .at(-1);
  if (type === 'event_subscription' && last)
    return {
      aspects: ['conferencing'],
      at,
      conferencing: last.type === 'conferencing_assigned' ? 'assigned' : 'failing',
    };
  return { aspects: [] };
}

const appliedKeys = (item: Item | undefined, aspect: AspectName): string[] => {
  const value = item?.[ASPECTS[aspect].applied];
  return Array.isArray(value) ? (value as string[]) : value instanceof Set ? [...value] : [];
};
/** The aspect's time: `*_as_of` (a receipt time) or its `triggered_at` attribute (shared/contract/ordering.ts). */
const asOf = (item: Item | undefined, aspect: AspectName): string | undefined =>
  aspectOrder(item, aspect).asOf;
/** The aspect's time as ranked: a receipt time below every `triggered_at` (shared/contract/ordering.ts). */
const rankOf = (item: Item | undefined, aspect: AspectName): string | undefined =>
  aspectOrder(item, aspect).rank;
/** The rank of a `triggered_at` sent. */
const timedRank = (at: string) => orderRank(at, false);

/** Does the record show, for this aspect, the values `sent` carries? Undefined: nothing to compare. */
function showsValues(item: Item, aspect: AspectName, sent: Sent): string | undefined {
  const event = (item.event ?? {}) as Item;
  if (aspect === 'lifecycle') {
    if (sent.status !== undefined && item.status !== sent.status)
      return `status ${String(item.status)}, not ${sent.status}`;
    const start = sent.event?.start;
    if (start !== undefined && !isDeepStrictEqual(event.start, start)) return 'event.start differs';
  }
  if (aspect === 'participants') {
    for (const field of ['host', 'attendees'] as const)
      if (sent.event?.[field] !== undefined && !isDeepStrictEqual(event[field], sent.event[field]))
        return `event.${field} differs`;
  }
  if (aspect === 'conferencing' && sent.conferencing !== undefined) {
    const status = (item.conferencing as Item | undefined)?.status;
    if (status !== sent.conferencing) return `conferencing ${String(status)}, not ${sent.conferencing}`;
  }
  return undefined;
}

function statePk(notification: SimNotification): string | undefined {
  return notification.expect.effect === 'state' ? notification.expect.pk : undefined;
}

function targetPks(notification: SimNotification): string[] {
  const { expect } = notification;
  return expect.effect === 'state' ? [expect.pk] : expect.effect === 'triggers' ? expect.pks : [];
}

function bodyMatches(item: Item, notification: SimNotification): boolean {
  return rawBody(String(item.body), item.body_encoding).equals(notification.body);
}

interface AspectExpectation {
  pk: string;
  aspect: AspectName;
  /** Newest `triggered_at` sent, and a notification that carried it. */
  newest?: { at: string; n: SimNotification };
  /** A notification without `triggered_at`, or one never accepted, may have moved the aspect later. */
  mayBeLater: boolean;
  any: SimNotification;
}

/** Per state record and aspect: the newest time sent. */
function aspectExpectations(
  accepted: readonly SimNotification[],
  others: readonly SimNotification[],
  sent: (n: SimNotification) => Sent,
): Map<string, AspectExpectation> {
  const expectations = new Map<string, AspectExpectation>();
  for (const [list, wasAccepted] of [
    [accepted, true],
    [others, false],
  ] as const) {
    for (const n of list) {
      const pk = statePk(n);
      if (!pk) continue;
      const { aspects, at } = sent(n);
      for (const aspect of aspects) {
        const id = `${pk} ${aspect}`;
        const entry = expectations.get(id) ?? { pk, aspect, mayBeLater: false, any: n };
        if (!wasAccepted || at === undefined) entry.mayBeLater = true;
        else if (!entry.newest || at > entry.newest.at) entry.newest = { at, n };
        expectations.set(id, entry);
      }
    }
  }
  return expectations;
}

export async function verifyTable(
  records: readonly DeliveryRecord[],
  options: VerifyOptions,
): Promise<VerifyReport> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const pollMs = options.pollMs ?? 500;
  const accepted = records
    .filter((record) => record.outcome === 'accepted')
    .map((record) => record.notification);
  const notAccepted = records
    .filter((record) => record.outcome !== 'accepted')
    .map((record) => record.notification);
  const started = Date.now();

  // The pipeline is asynchronous: wait until every accepted notification has its record, or time runs out.
  const notificationItems = new Map<string, Item>();
  let missing = accepted;
  for (;;) {
    const found = await getItems(
      options.client,
      options.tableName,
      missing.map((n) => keys.notification(n.key)),
    );
    for (const [pk, item] of found) notificationItems.set(pk, item);
    missing = missing.filter((n) => !notificationItems.has(keys.notification(n.key)));
    if (missing.length === 0 || Date.now() - started >= timeoutMs) break;
    await sleep(pollMs);
  }
  const waitedMs = Date.now() - started;
  const late = await getItems(
    options.client,
    options.tableName,
    notAccepted.map((n) => keys.notification(n.key)),
  );
  const targets = await getItems(options.client, options.tableName, accepted.flatMap(targetPks));

  const report: VerifyReport = {
    checked: accepted.length,
    applied: 0,
    stale: 0,
    keptOnly: 0,
    lost: 0,
    doubleApplied: 0,
    regressed: 0,
    wrong: 0,
    givenUpButRecorded: new Set(
      notAccepted.filter((n) => late.has(keys.notification(n.key))).map((n) => n.key),
    ).size,
    waitedMs,
    findings: [],
  };
  type Kind = 'lost' | 'doubleApplied' | 'regressed' | 'wrong';
  const find = (n: SimNotification, kind: Kind, problem: string) => {
    report[kind]++;
    if (report.findings.length < MAX_FINDINGS) report.findings.push({ label: n.label, key: n.key, problem });
  };

  // Every body, every header id it was sent with, every trigger record it maps to: over all deliveries.
  const byKey = new Map<string, SimNotification>();
  const headerIds = new Map<string, Set<string>>();
  const triggerSources = new Map<string, Set<string>>();
  const sentCache = new Map<string, Sent>();
  const sent = (n: SimNotification) => {
    const cached = sentCache.get(n.key);
    if (cached) return cached;
    const value = sentState(n.body);
    sentCache.set(n.key, value);
    return value;
  };
  for (const { notification: n } of records) {
    if (!byKey.has(appliedKey(n.key))) byKey.set(appliedKey(n.key), n);
    const ids = headerIds.get(n.key) ?? new Set();
    if (n.notificationId) ids.add(n.notificationId);
    headerIds.set(n.key, ids);
    if (n.expect.effect === 'triggers')
      for (const pk of n.expect.pks) triggerSources.set(pk, (triggerSources.get(pk) ?? new Set()).add(n.key));
  }

  for (const n of accepted) {
    const record = notificationItems.get(keys.notification(n.key));
    if (!record) {
      find(n, 'lost', 'no notification record');
      continue;
    }
    if (!bodyMatches(record, n)) {
      find(n, 'wrong', 'notification record does not hold the body verbatim');
      continue;
    }
    const traced = record.cronofy_notification_id;
    if (traced !== undefined && !headerIds.get(n.key)?.has(String(traced))) {
      find(n, 'wrong', `cronofy_notification_id ${String(traced)} was never sent with this body`);
      continue;
    }
    const { expect } = n;
    if (expect.effect === 'record') {
      if (record.status === expect.status) report.keptOnly++;
      else find(n, 'wrong', `status ${String(record.status)}, expected ${expect.status}`);
      continue;
    }
    if (expect.effect === 'triggers') {
      const absent = expect.pks.filter((pk) => !targets.has(pk));
      const foreign = expect.pks.filter(
        (pk) => targets.has(pk) && !triggerSources.get(pk)?.has(String(targets.get(pk)?.notification_id)),
      );
      if (absent.length > 0) find(n, 'lost', `no event_trigger record ${absent.join(', ')}`);
      else if (foreign.length > 0)
        find(n, 'wrong', `event_trigger ${foreign.join(', ')} names a notification that does not map to it`);
      else if (record.status !== 'applied')
        find(n, 'wrong', `status ${String(record.status)}, expected applied`);
      else report.applied++;
      continue;
    }

    const state = targets.get(expect.pk);
    const { aspects, at } = sent(n);
    const status = String(record.status);
    if (status !== 'applied' && status !== 'stale') {
      find(n, 'wrong', `status ${status}, expected applied or stale`);
      continue;
    }
    if (!state) {
      find(n, status === 'applied' ? 'lost' : 'wrong', `recorded ${status}, but there is no ${expect.pk}`);
      continue;
    }
    const twice = aspects.find(
      (aspect) => appliedKeys(state, aspect).filter((k) => k === appliedKey(n.key)).length > 1,
    );
    if (twice) {
      find(n, 'doubleApplied', `key listed more than once in ${expect.pk}.${ASPECTS[twice].applied}`);
      continue;
    }
    if (at !== undefined) {
      // Sent with the time an aspect ends at: applied at that time, so its key is listed there, unless the record
      // already showed its values (a same-meaning body in other bytes is no write).
      const unlisted = aspects.find(
        (aspect) =>
          asOf(state, aspect) === at &&
          !appliedKeys(state, aspect).includes(appliedKey(n.key)) &&
          showsValues(state, aspect, sent(n)) !== undefined,
      );
      if (unlisted) {
        find(n, 'lost', `sent at ${expect.pk}.${ASPECTS[unlisted].asOf} but not in its applied keys`);
        continue;
      }
      // Stale only when every aspect it carries is newer than the notification.
      const notOlder = aspects.find((aspect) => {
        const held = rankOf(state, aspect);
        return held === undefined || held <= timedRank(at);
      });
      if (status === 'stale' && notOlder) {
        find(n, 'wrong', `recorded stale, but ${expect.pk} ${notOlder} is not newer than it`);
        continue;
      }
    }
    if (status === 'applied') report.applied++;
    else report.stale++;
  }

  // Newer state wins, per aspect: each ends at the newest time sent for it, showing the values of the last
  // notification applied at that time. A notification recorded stale really was older than what was kept.
  for (const expected of aspectExpectations(accepted, notAccepted, sent).values()) {
    const { pk, aspect, newest, mayBeLater } = expected;
    const state = targets.get(pk);
    if (!state) continue; // reported above, per notification
    const held = asOf(state, aspect);
    const heldRank = rankOf(state, aspect);
    const name = ASPECTS[aspect].asOf;
    if (newest && (heldRank === undefined || heldRank < timedRank(newest.at))) {
      find(newest.n, 'regressed', `${pk}.${name} is ${held ?? 'absent'}, older than ${newest.at} sent`);
      continue;
    }
    if (held === undefined) {
      find(expected.any, 'lost', `${pk} has no ${name}`);
      continue;
    }
    if (newest && heldRank !== undefined && heldRank > timedRank(newest.at) && !mayBeLater) {
      find(newest.n, 'wrong', `${pk}.${name} is ${held}, later than any time sent (${newest.at})`);
      continue;
    }
    const last = appliedKeys(state, aspect).at(-1);
    const shown = last === undefined ? undefined : byKey.get(last);
    if (!shown) {
      if (!mayBeLater)
        find(expected.any, 'wrong', `${pk}.${ASPECTS[aspect].applied} names no notification sent`);
      continue;
    }
    const problem = showsValues(state, aspect, sent(shown));
    if (problem) find(shown, 'wrong', `${pk} ${aspect}: ${problem} (the last notification applied)`);
  }
  return report;
}

export interface StreamReport {
  /** Stream records read (all of the table's, this run's and earlier ones). */
  records: number;
  /** Notifications whose effect appears on the stream exactly once. */
  once: number;
  /** Notifications recorded stale whose key was never added to an aspect's applied keys. */
  stale: number;
  missing: number;
  /**
   * Notifications whose key was newly added to one aspect's `*_applied` more than once over the record's
   * history, or whose notification / event_trigger record was written more than once; plus changes to a
   * state record that applied no notification (a replay or a duplicate that still wrote).
   */
  doubleApplied: number;
  /** Changes where an aspect's `*_as_of` in the NewImage is older than in the OldImage (or was removed). */
  regressed: number;
  findings: Finding[];
}

function image(record: _Record, which: 'NewImage' | 'OldImage'): Item | undefined {
  const raw = record.dynamodb?.[which];
  return raw ? withContractBody(unmarshall(raw as Record<string, AttributeValue>)) : undefined;
}

/** Stream sequence numbers are decimal strings of varying length: compare them as numbers. */
const bySequence = (a: _Record, b: _Record) => {
  const x = a.dynamodb?.SequenceNumber ?? '';
  const y = b.dynamodb?.SequenceNumber ?? '';
  return x.length - y.length || (x < y ? -1 : x > y ? 1 : 0);
};

const ALL_ASPECTS = Object.keys(ASPECTS) as AspectName[];

/** Keys an aspect gained in one change: all of them when its time moved, else those not there before. */
function addedKeys(before: Item | undefined, after: Item | undefined, aspect: AspectName): string[] {
  const now = appliedKeys(after, aspect);
  if (rankOf(before, aspect) !== rankOf(after, aspect)) return now;
  const earlier = appliedKeys(before, aspect);
  return now.filter((key) => !earlier.includes(key));
}

/** Count each accepted notification's effects on the stream records of the table. */
export function verifyStream(records: readonly DeliveryRecord[], stream: readonly _Record[]): StreamReport {
  const byPk = new Map<string, _Record[]>();
  for (const record of stream) {
    const pk = record.dynamodb?.Keys?.pk?.S;
    if (pk === undefined) continue;
    const list = byPk.get(pk) ?? [];
    list.push(record);
    byPk.set(pk, list);
  }
  for (const list of byPk.values()) list.sort(bySequence);
  const report: StreamReport = {
    records: stream.length,
    once: 0,
    stale: 0,
    missing: 0,
    doubleApplied: 0,
    regressed: 0,
    findings: [],
  };
  const find = (
    n: { label: string; key: string },
    kind: 'missing' | 'doubleApplied' | 'regressed',
    problem: string,
  ) => {
    report[kind]++;
    if (report.findings.length < MAX_FINDINGS) report.findings.push({ label: n.label, key: n.key, problem });
  };

  // Every state record of the run, change by change: which keys each change applied, and whether an aspect
  // went back in time.
  const additions = new Map<string, Map<string, number>>(); // `${pk} ${aspect}` → key → times added
  const statePks = new Set(
    records.flatMap(({ notification: n }) => (n.expect.effect === 'state' ? [n.expect.pk] : [])),
  );
  for (const pk of statePks) {
    for (const change of byPk.get(pk) ?? []) {
      const before = image(change, 'OldImage');
      const after = image(change, 'NewImage');
      let changedSomething = false;
      // Only the aspects of the record's entity (conferencing's time attribute is also called triggered_at).
      const aspects = ENTITY_ASPECTS[String(after?.entity ?? before?.entity)] ?? ALL_ASPECTS;
      for (const aspect of aspects) {
        const from = asOf(before, aspect);
        const to = asOf(after, aspect);
        const fromRank = rankOf(before, aspect);
        const toRank = rankOf(after, aspect);
        if (fromRank !== undefined && (toRank === undefined || toRank < fromRank))
          find({ label: pk, key: aspect }, 'regressed', `${ASPECTS[aspect].asOf} went from ${from} to ${to}`);
        const added = addedKeys(before, after, aspect);
        if (added.length > 0) changedSomething = true;
        const counts = additions.get(`${pk} ${aspect}`) ?? new Map<string, number>();
        for (const key of added) counts.set(key, (counts.get(key) ?? 0) + 1);
        additions.set(`${pk} ${aspect}`, counts);
      }
      if (!changedSomething && change.eventName !== 'REMOVE')
        find(
          { label: pk, key: change.dynamodb?.SequenceNumber ?? '' },
          'doubleApplied',
          `${change.eventName} applied no notification`,
        );
    }
  }

  const seen = new Set<string>();
  for (const { notification: n, outcome } of records) {
    // Every delivery of one body is one notification: judge it once.
    if (outcome !== 'accepted' || seen.has(n.key)) continue;
    seen.add(n.key);
    const own = byPk.get(keys.notification(n.key)) ?? [];
    if (own.length === 0) {
      find(n, 'missing', 'no stream record for the notification');
      continue;
    }
    if (own.length > 1) {
      find(n, 'doubleApplied', `${own.length} stream records for the notification record`);
      continue;
    }
    const status = image(own[0] as _Record, 'NewImage')?.status;
    const { expect } = n;
    if (expect.effect === 'record') {
      report.once++;
      continue;
    }
    if (expect.effect === 'triggers') {
      // Created once and never changed, however many bodies map to it.
      const counts = expect.pks.map((pk) => (byPk.get(pk) ?? []).length);
      if (counts.some((count) => count > 1))
        find(n, 'doubleApplied', `event_trigger written ${Math.max(...counts)} times`);
      else if (counts.some((count) => count === 0)) find(n, 'missing', 'no event_trigger on the stream');
      else report.once++;
      continue;
    }
    const times = ALL_ASPECTS.map(
      (aspect) => additions.get(`${expect.pk} ${aspect}`)?.get(appliedKey(n.key)) ?? 0,
    );
    if (times.some((t) => t > 1))
      find(n, 'doubleApplied', `applied ${Math.max(...times)} times to one aspect of ${expect.pk}`);
    else if (times.some((t) => t === 1)) report.once++;
    else if (status === 'stale') report.stale++;
    else find(n, 'missing', `recorded ${String(status)}, but no change to ${expect.pk} applied it`);
  }
  return report;
}

/** Read the local table's whole stream (DynamoDB Local keeps it for 24 hours). */
export async function readTableStream(
  client: Pick<DynamoDBClient, 'send'>,
  tableName: string,
  endpoint: string,
) {
  const described = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const streamArn = described.Table?.LatestStreamArn;
  if (!streamArn) throw new Error(`table ${tableName} has no stream`);
  return readStream(endpoint, streamArn);
}

export interface RunCheck {
  table: VerifyReport;
  stream?: StreamReport;
}

/** The table, then (when a local endpoint is given) the stream: what `--verify --stream` reports. */
export async function verifyRun(
  records: readonly DeliveryRecord[],
  options: VerifyOptions & { streamEndpoint?: string },
): Promise<RunCheck> {
  const table = await verifyTable(records, options);
  if (!options.streamEndpoint) return { table };
  const stream = verifyStream(
    records,
    await readTableStream(options.client, options.tableName, options.streamEndpoint),
  );
  return { table, stream };
}

/** No loss, no double effect, no aspect gone back in time, nothing kept wrongly, on the table and the stream. */
export function isExactlyOnce(check: RunCheck): boolean {
  const { table, stream } = check;
  const tableOk = table.lost === 0 && table.doubleApplied === 0 && table.regressed === 0 && table.wrong === 0;
  return (
    tableOk &&
    (stream === undefined || (stream.missing === 0 && stream.doubleApplied === 0 && stream.regressed === 0))
  );
}
