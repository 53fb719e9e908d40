import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';

/**
 * The worker floor: one bare PutItem per notification and nothing else (no decoding, no planning, no
 * condition, no logging). Bundled on its own it is also the worker's cold-start floor: the bare DynamoDB client.
 */

interface FloorSqsEvent {
  Records: { messageId: string; body: string }[];
}

const client = new DynamoDBClient({});
const tableName = process.env.TABLE_NAME ?? '';

export async function handler(event: FloorSqsEvent): Promise<{ batchItemFailures: never[] }> {
  await Promise.all(
    event.Records.map((record) =>
      client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: { pk: { S: `floor#${record.messageId}` }, body: { S: record.body } },
        }),
      ),
    ),
  );
  return { batchItemFailures: [] };
}
