import { type AttributeValue, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';

/**
 * The worker floor: one bare PutItem per notification and nothing else (no decoding, no planning, no
 * condition, no logging). Bundled on its own it is also the worker's cold-start floor: the bare DynamoDB client.
 *
 * With FLOOR_WRITES=items it is the contract floor instead, same bundle: each message body is the list of
 * items the records contract asks for (state record and notification record, already in DynamoDB JSON, built by the
 * benchmark), written one after the other with bare PutItems.
 */

interface FloorSqsEvent {
  Records: { messageId: string; body: string }[];
}

const client = new DynamoDBClient({});
const tableName = process.env.TABLE_NAME ?? '';
const contract = process.env.FLOOR_WRITES === 'items';

function itemsOf(record: { messageId: string; body: string }): Record<string, AttributeValue>[] {
  if (contract) {
    const items = JSON.parse(record.body) as Record<string, { B?: unknown }>[];
    // Binary values (the compressed body) travel as base64.
    for (const item of items)
      for (const value of Object.values(item))
        if (typeof value.B === 'string') value.B = Buffer.from(value.B, 'base64');
    return items as Record<string, AttributeValue>[];
  }
  return [{ pk: { S: `floor#${record.messageId}` }, body: { S: record.body } }];
}

export async function handler(event: FloorSqsEvent): Promise<{ batchItemFailures: never[] }> {
  await Promise.all(
    event.Records.map(async (record) => {
      for (const Item of itemsOf(record)) {
        await client.send(new PutItemCommand({ TableName: tableName, Item }));
      }
    }),
  );
  return { batchItemFailures: [] };
}
