import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';

/**
 * The worker floor: one bare PutItem per notification and nothing else (no decoding, no planning, no
 * condition, no logging). Bundled on its own it is also the worker's cold-start floor: the bare DynamoDB client.
 * With FLOOR_WRITES=2 it writes two items per notification one after the other, as CONTRACT §3 requires
 * (a state record and a notification record): the contract floor, same bundle.
 */

interface FloorSqsEvent {
  Records: { messageId: string; body: string }[];
}

const client = new DynamoDBClient({});
const tableName = process.env.TABLE_NAME ?? '';
const writes = process.env.FLOOR_WRITES === '2' ? ['floor-state#', 'floor#'] : ['floor#'];

export async function handler(event: FloorSqsEvent): Promise<{ batchItemFailures: never[] }> {
  await Promise.all(
    event.Records.map(async (record) => {
      for (const prefix of writes) {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: { pk: { S: `${prefix}${record.messageId}` }, body: { S: record.body } },
          }),
        );
      }
    }),
  );
  return { batchItemFailures: [] };
}
