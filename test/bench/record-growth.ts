import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { silentLogger } from '#shared/core/logger.ts';
import { processBatch } from '#shared/notifications/apply.ts';
import { TABLE } from '../../infra/definitions.ts';
import { dynamoClient } from '../../infra/local/services.ts';
import { schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { queueMessage } from '../support/messages.ts';
import { DynamoMeter, type MeterCounts } from './dynamo-meter.ts';

/**
 * Does a record's write cost grow with the notifications it receives? One scheduling request gets `count`
 * notifications in order (each a second apart, 3.5 KB each), one per worker invocation (so each pays for its
 * own notification-record round trip), against DynamoDB Local with a metered client; the figures are the write
 * units and round trips of the 1st, the 2nd and the last.
 */

export interface GrowthFigures {
  count: number;
  first: { writeUnits: number; roundTrips: number };
  /** The 2nd: the first reschedule, the first update of the record. */
  second: { writeUnits: number; roundTrips: number };
  last: { writeUnits: number; roundTrips: number };
}

export async function measureRecordGrowth(endpoint: string, count = 1000): Promise<GrowthFigures> {
  const tableName = `growth-${process.pid}`;
  const meter = new DynamoMeter();
  const client = meter.attach(dynamoClient(endpoint));
  await dynamoClient(endpoint).send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: TABLE.partitionKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: TABLE.partitionKey, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const deps = {
    store: new DynamoRecordStore(client, tableName),
    clock: () => new Date(),
    logger: silentLogger,
    retentionDays: 90,
  };
  const per: MeterCounts[] = [];
  const BODY_BYTES = 3500;
  for (let i = 0; i < count; i++) {
    // The 1st creates the record (time chosen); then reschedules (odd) and participant changes (even)
    // alternate, so the 1,000th is a reschedule: the same aspects and item shape as the 1st.
    const type =
      i === 0
        ? 'scheduling_request_time_chosen'
        : i % 2 === 1
          ? 'scheduling_request_rescheduled'
          : 'event_participant_status_changed';
    const triggeredAt = new Date(Date.UTC(2026, 10, 23, 10, 0, 0) + i * 1000).toISOString();
    const make = (notes: number) =>
      schedulingRequestBody(type, {
        schedulingRequestId: `srq_growth_${process.pid}`,
        triggeredAt,
        attendeeStatus: i % 4 < 2 ? 'accepted' : 'declined',
        capturedData: { 'captured_data.notes': 'n'.repeat(notes) },
      });
    // Every body the same size, so the notification records cost the same.
    const body = make(Math.max(0, BODY_BYTES - Buffer.byteLength(make(0))));
    meter.reset();
    const failed = await processBatch([queueMessage(body)], deps);
    if (failed.length > 0) throw new Error(`notification ${i + 1} failed`);
    per.push(meter.reset());
  }
  const pick = (counts: MeterCounts | undefined) => ({
    writeUnits: counts?.writeUnits ?? Number.NaN,
    roundTrips: counts?.roundTrips ?? Number.NaN,
  });
  return { count, first: pick(per[0]), second: pick(per[1]), last: pick(per[count - 1]) };
}
