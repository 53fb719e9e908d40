import { BatchWriteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { DynamoRecordStore, notificationItem } from '#shared/aws/dynamo-store.ts';
import { mergeState } from '#shared/contract/ordering.ts';
import type { NotificationRecord } from '#shared/contract/records.ts';
import type { StateWrite } from '#shared/core/ports.ts';
import { planNotification } from '#shared/notifications/plan.ts';
import { decodeEnvelope } from '#shared/notifications/queue-message.ts';
import { dynamoClient } from '../../infra/local/services.ts';
import { cpuMs } from './process-cpu.ts';
import { createPlainTable } from './worker-throughput.ts';
import { envelopeOf, notification } from './workload.ts';

/**
 * Where DynamoDB Local's CPU goes, per notification, one write shape at a time: the worker's own writes
 * (the store's state write and its notification-record batch) against the contract floor's (unconditional
 * PutItem, BatchWriteItem), on tables with and without the open-requests index. Sequential, batches of 10,
 * after a warm-up of each shape; the emulator's CPU read from /proc around each shape. It says how much of
 * the gap between ours and the contract floor is the emulator evaluating conditions, PartiQL and the index,
 * which no client-side change can remove.
 */

interface Prepared {
  write: StateWrite;
  record: NotificationRecord;
}

function prepare(run: string, count: number): Prepared[] {
  return Array.from({ length: count }, () => {
    const plan = planNotification(decodeEnvelope(envelopeOf(notification(run, 4096))), new Date(), {
      retentionDays: 90,
    });
    const write = plan.stateWrites[0] as StateWrite;
    return {
      write,
      record: { ...plan.notification, status: 'applied', processed_at: new Date().toISOString() },
    };
  });
}

export type OpsResult = Record<string, number>;

export async function measureDynamoOps(
  endpoint: string,
  dynamoPid: number | undefined,
  count: number,
): Promise<OpsResult> {
  const client = dynamoClient(endpoint);
  const tables = { indexed: `ops-indexed-${process.pid}`, plain: `ops-plain-${process.pid}` };
  await createPlainTable(client, tables.indexed, 'pk', true);
  await createPlainTable(client, tables.plain, 'pk');
  const stores = {
    indexed: new DynamoRecordStore(client, tables.indexed),
    plain: new DynamoRecordStore(client, tables.plain),
  };
  const batches = (list: Prepared[]) =>
    Array.from({ length: Math.ceil(list.length / 10) }, (_, i) => list.slice(i * 10, i * 10 + 10));
  const options = { removeUndefinedValues: true, convertClassInstanceToMap: true } as const;

  const putState = (table: string) => (batch: Prepared[]) =>
    Promise.all(
      batch.map((p) =>
        client.send(
          new PutItemCommand({
            TableName: table,
            Item: marshall(mergeState(undefined, p.write).item ?? {}, options),
          }),
        ),
      ),
    );

  const shapes: Record<string, (batch: Prepared[]) => Promise<unknown>> = {
    'state: ours (conditional write, indexed table)': (batch) =>
      Promise.all(batch.map((p) => stores.indexed.applyState(p.write))),
    'state: ours (conditional write, no index)': (batch) =>
      Promise.all(batch.map((p) => stores.plain.applyState(p.write))),
    'state: unconditional PutItem, indexed table': putState(tables.indexed),
    'state: unconditional PutItem, no index (contract floor)': putState(tables.plain),
    'notification records: ours (PartiQL INSERT batch)': (batch) =>
      stores.plain.putNotifications(batch.map((p) => p.record)),
    'notification records: BatchWriteItem (contract floor)': (batch) =>
      client.send(
        new BatchWriteItemCommand({
          RequestItems: {
            [tables.plain]: batch.map((p) => ({ PutRequest: { Item: notificationItem(p.record) } })),
          },
        }),
      ),
  };

  const result: OpsResult = {};
  let run = 0;
  try {
    for (const [name, shape] of Object.entries(shapes)) {
      // Fresh keys for every pass: each write creates its item, as the workload's do.
      for (const batch of batches(prepare(`ops-warm-${++run}`, Math.min(count, 200)))) await shape(batch);
      const list = prepare(`ops-${++run}`, count);
      const before = cpuMs(dynamoPid);
      for (const batch of batches(list)) await shape(batch);
      result[name] = (cpuMs(dynamoPid) - before) / count;
    }
  } finally {
    client.destroy();
  }
  return result;
}
