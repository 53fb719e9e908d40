import {
  BatchExecuteStatementCommand,
  BatchGetItemCommand,
  DynamoDBClient,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import {
  buildStateExpression,
  marshallItem,
  notificationItem,
  WORKER_DYNAMODB_CLIENT_CONFIG,
} from '#shared/aws/dynamo-store.ts';
import type { NotificationRecord } from '#shared/contract/records.ts';
import { planNotification } from '#shared/notifications/plan.ts';
import { decodeEnvelope } from '#shared/notifications/queue-message.ts';
import { handler as worker } from '../../../functions/worker/handler.ts';

/**
 * What-if entry for `test/bench/cold-steps.ts`: where the worker's first batch spends its CPU in a fresh
 * process. `STEPS=code`: the first message through each step of ours alone (decode, plan, the state write's
 * expression, the notification item), then the real handler on the second message. `STEPS=sdk`: a bare
 * client's first use of the three operations the worker's first batch sends, in the worker's order.
 */

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

export async function handler(event: SQSEvent) {
  const steps: Record<string, number> = {};
  let last = cpuMs();
  const lap = (name: string) => {
    const now = cpuMs();
    steps[name] = now - last;
    last = now;
  };
  const [first, second] = event.Records;
  if (!first || !second) throw new Error('two messages expected');
  if (process.env.STEPS === 'sdk') {
    const table = process.env.TABLE_NAME ?? '';
    const client = new DynamoDBClient(WORKER_DYNAMODB_CLIENT_CONFIG);
    lap('client');
    const key = { pk: { S: `steps#${first.messageId}` } };
    await client.send(
      new BatchGetItemCommand({ RequestItems: { [table]: { Keys: [key], ConsistentRead: true } } }),
    );
    lap('1st operation: BatchGetItem');
    await client.send(
      new UpdateItemCommand({
        TableName: table,
        Key: key,
        UpdateExpression: 'SET #a = :a',
        ConditionExpression: 'attribute_not_exists(#a)',
        ExpressionAttributeNames: { '#a': 'a' },
        ExpressionAttributeValues: { ':a': { S: second.body.slice(0, 1000) } },
      }),
    );
    lap('2nd operation: UpdateItem');
    await client.send(
      new BatchExecuteStatementCommand({
        Statements: [
          {
            Statement: `INSERT INTO "${table}" VALUE {'pk': ?}`,
            Parameters: [{ S: `steps#${second.messageId}` }],
          },
        ],
      }),
    );
    lap('3rd operation: BatchExecuteStatement');
    return { batchItemFailures: [], steps };
  }
  const envelope = decodeEnvelope(first.body);
  lap('decode the queue message');
  const plan = planNotification(envelope, new Date(), { retentionDays: 90 });
  lap('plan (parse, validate, plan)');
  for (const write of plan.stateWrites) marshallItem(buildStateExpression(write).values);
  lap('state write expression');
  notificationItem({
    ...plan.notification,
    status: 'applied',
    processed_at: new Date().toISOString(),
  } as NotificationRecord);
  lap('notification item (compress)');
  const result = await worker({ Records: [second] } as SQSEvent);
  lap('handler on the 2nd message (client, 3 operations)');
  return { ...result, steps };
}
