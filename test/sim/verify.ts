import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  DescribeTableCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { keys } from '../../shared/records.ts';
import { readStream } from '../support/stream-reader.ts';
import type { DeliveryRecord } from './delivery.ts';
import type { SimNotification } from './scenarios.ts';

/**
 * After a run: did every notification the simulator got accepted have exactly one effect? (CONTRACT §3)
 *
 * - one `notification` record per idempotency key, holding the body verbatim;
 * - a state notification's key appears exactly once in its record's `applied_notifications`, or the
 *   notification is recorded `stale` (newer state was already there) and the key appears nowhere;
 * - an Event Trigger has its `event_trigger` record (one per transition);
 * - a body that cannot be applied is kept with status `unparseable` / `unknown_type`;
 * - newer state wins: each record ends with the newest `triggered_at` sent for it (so `stale` is legitimate).
 *
 * The table shows the end state; the stream (local mode) shows every change, so it also catches an effect
 * applied twice and then overwritten.
 */

export interface Finding {
  label: string;
  key: string;
  problem: string;
}

export interface VerifyReport {
  /** Accepted notifications checked. */
  checked: number;
  /** Applied exactly once. */
  applied: number;
  /** Recorded as stale: a newer notification for the same record was applied first (correct, not lost). */
  stale: number;
  /** Kept without a state change, as expected (unparseable, unknown type). */
  keptOnly: number;
  lost: number;
  doubleApplied: number;
  /** Present, but not as expected (wrong status, body not verbatim). */
  wrong: number;
  /** Never answered 2xx but recorded anyway (a request that timed out after the queue had it). */
  givenUpButRecorded: number;
  waitedMs: number;
  /** The first findings (lost, double, wrong), for a human to start from. */
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
        const item = unmarshall(raw);
        found.set(String(item.pk), item);
      }
      request = result.UnprocessedKeys?.[tableName]?.Keys;
    }
  }
  return found;
}

function statePks(notification: SimNotification): string[] {
  const { expect } = notification;
  return expect.effect === 'state' ? [expect.pk] : expect.effect === 'triggers' ? expect.pks : [];
}

function bodyMatches(item: Item, notification: SimNotification): boolean {
  const stored =
    item.body_encoding === 'base64'
      ? Buffer.from(String(item.body), 'base64')
      : Buffer.from(String(item.body));
  return stored.equals(notification.body);
}

function triggeredAt(n: SimNotification): number | undefined {
  try {
    const value = JSON.parse(n.body.toString())?.notification?.triggered_at;
    return typeof value === 'string' ? Date.parse(value) : undefined;
  } catch {
    return undefined;
  }
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
  const targets = await getItems(options.client, options.tableName, accepted.flatMap(statePks));

  const report: VerifyReport = {
    checked: accepted.length,
    applied: 0,
    stale: 0,
    keptOnly: 0,
    lost: 0,
    doubleApplied: 0,
    wrong: 0,
    givenUpButRecorded: notAccepted.filter((n) => late.has(keys.notification(n.key))).length,
    waitedMs,
    findings: [],
  };
  const find = (n: SimNotification, kind: 'lost' | 'doubleApplied' | 'wrong', problem: string) => {
    report[kind]++;
    if (report.findings.length < MAX_FINDINGS) report.findings.push({ label: n.label, key: n.key, problem });
  };

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
    const { expect } = n;
    if (expect.effect === 'record') {
      if (record.status === expect.status) report.keptOnly++;
      else find(n, 'wrong', `status ${String(record.status)}, expected ${expect.status}`);
      continue;
    }
    if (expect.effect === 'triggers') {
      const absent = expect.pks.filter((pk) => targets.get(pk)?.notification_id !== n.key);
      if (absent.length > 0) find(n, 'lost', `no event_trigger record ${absent.join(', ')}`);
      else if (record.status !== 'applied')
        find(n, 'wrong', `status ${String(record.status)}, expected applied`);
      else report.applied++;
      continue;
    }
    const state = targets.get(expect.pk);
    const applied = Array.isArray(state?.applied_notifications)
      ? (state.applied_notifications as unknown[])
      : [];
    const times = applied.filter((key) => key === n.key).length;
    if (times > 1)
      find(n, 'doubleApplied', `key appears ${times} times in ${expect.pk}.applied_notifications`);
    else if (times === 1 && record.status === 'applied') report.applied++;
    else if (times === 0 && record.status === 'stale') report.stale++;
    else if (times === 0)
      find(
        n,
        'lost',
        `status ${String(record.status)} but the key is not in ${expect.pk}.applied_notifications`,
      );
    else find(n, 'wrong', `applied to ${expect.pk} but recorded ${String(record.status)}`);
  }

  // Newer state wins: a record ends holding the newest `triggered_at` it was sent, so a notification recorded
  // stale really was older than what the record kept, never the other way round.
  const newest = new Map<string, { at: number; n: SimNotification }>();
  for (const n of accepted) {
    const at = triggeredAt(n);
    if (n.expect.effect !== 'state' || at === undefined) continue;
    const seen = newest.get(n.expect.pk);
    if (!seen || at > seen.at) newest.set(n.expect.pk, { at, n });
  }
  for (const [pk, { at, n }] of newest) {
    const held = Date.parse(String(targets.get(pk)?.triggered_at));
    if (held !== at)
      find(n, 'wrong', `${pk} holds triggered_at ${new Date(held).toISOString()}, not the newest sent`);
  }
  return report;
}

export interface StreamReport {
  /** Stream records read (all of the table's, this run's and earlier ones). */
  records: number;
  /** Notifications whose effect appears on the stream exactly once. */
  once: number;
  /** Notifications recorded stale: their record appears once, their state change nowhere. */
  stale: number;
  missing: number;
  doubleApplied: number;
  findings: Finding[];
}

function image(record: _Record, which: 'NewImage' | 'OldImage'): Item | undefined {
  const raw = record.dynamodb?.[which];
  return raw ? unmarshall(raw as Record<string, AttributeValue>) : undefined;
}

function listed(item: Item | undefined, key: string): number {
  const applied = item?.applied_notifications;
  return Array.isArray(applied) ? applied.filter((value) => value === key).length : 0;
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
  const report: StreamReport = {
    records: stream.length,
    once: 0,
    stale: 0,
    missing: 0,
    doubleApplied: 0,
    findings: [],
  };
  const find = (n: SimNotification, kind: 'missing' | 'doubleApplied', problem: string) => {
    report[kind]++;
    if (report.findings.length < MAX_FINDINGS) report.findings.push({ label: n.label, key: n.key, problem });
  };

  for (const { notification: n, outcome } of records) {
    if (outcome !== 'accepted') continue;
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
      const counts = expect.pks.map((pk) => (byPk.get(pk) ?? []).length);
      if (counts.some((count) => count > 1))
        find(n, 'doubleApplied', `event_trigger written ${Math.max(...counts)} times`);
      else if (counts.some((count) => count === 0)) find(n, 'missing', 'no event_trigger on the stream');
      else report.once++;
      continue;
    }
    // The change that added this key to the record's applied list: exactly one, or none when stale.
    let additions = 0;
    for (const change of byPk.get(expect.pk) ?? []) {
      const after = listed(image(change, 'NewImage'), n.key);
      const before = listed(image(change, 'OldImage'), n.key);
      if (after > before) additions += after - before;
    }
    if (additions > 1) find(n, 'doubleApplied', `applied ${additions} times to ${expect.pk}`);
    else if (additions === 1) report.once++;
    else if (status === 'stale') report.stale++;
    else find(n, 'missing', `no change to ${expect.pk} on the stream`);
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

/** No loss, no double effect, nothing kept wrongly, on the table and (when read) on the stream. */
export function isExactlyOnce(check: RunCheck): boolean {
  const { table, stream } = check;
  const tableOk = table.lost === 0 && table.doubleApplied === 0 && table.wrong === 0;
  return tableOk && (stream === undefined || (stream.missing === 0 && stream.doubleApplied === 0));
}
