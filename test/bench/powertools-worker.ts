import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { keys } from '#shared/contract/keys.ts';
import { createLogger } from '#shared/core/logger.ts';
import type { Logger, StateWrite } from '#shared/core/ports.ts';
import { planNotification } from '#shared/notifications/plan.ts';
import { decodeEnvelope, type Envelope } from '#shared/notifications/queue-message.ts';

/**
 * The peer: the same worker built the common way, as Powertools' documentation shows it for SQS. Each record
 * goes through `makeIdempotent` with the DynamoDB persistence layer (its own table, keyed on the envelope's
 * idempotency key): a conditional PutItem marks the key INPROGRESS, the function runs, an UpdateItem marks it
 * COMPLETED with the function's result. The function makes the same table changes as ours, from the same
 * plan: an UpdateItem of the state record (guarded against older `triggered_at` only, since duplicates are
 * the utility's job, so without `applied_notifications`) and a PutItem of the notification record.
 * Records of a batch run in parallel, as Powertools' BatchProcessor runs them.
 */

const marshallOptions = { removeUndefinedValues: true, convertClassInstanceToMap: true } as const;

function stateUpdate(tableName: string, write: StateWrite): UpdateItemCommand {
  const names: Record<string, string> = { '#pk': 'pk' };
  const values: Record<string, unknown> = {};
  const sets: string[] = [];
  const event = Object.assign({}, ...write.aspects.map((aspect) => aspect.event ?? {}));
  Object.entries({
    ...write.common,
    ...Object.assign({}, ...write.aspects.map((aspect) => aspect.set)),
    ...(Object.keys(event).length > 0 ? { event } : {}),
  }).forEach(([name, value], i) => {
    names[`#s${i}`] = name;
    values[`:s${i}`] = value;
    sets.push(`#s${i} = :s${i}`);
  });
  let condition: string | undefined;
  if (write.triggeredAt !== undefined) {
    names['#t'] = 'triggered_at';
    values[':t'] = write.triggeredAt;
    sets.push('#t = :t');
    condition = 'attribute_not_exists(#pk) OR attribute_not_exists(#t) OR #t <= :t';
  }
  if (condition === undefined) delete names['#pk'];
  return new UpdateItemCommand({
    TableName: tableName,
    Key: { pk: { S: write.pk } },
    UpdateExpression: `SET ${sets.join(', ')}`,
    ConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: marshall(values, marshallOptions),
  });
}

export interface PowertoolsWorkerOptions {
  client: DynamoDBClient;
  tableName: string;
  idempotencyTableName: string;
  logger: Logger;
}

export function makePowertoolsWorker({
  client,
  tableName,
  idempotencyTableName,
  logger,
}: PowertoolsWorkerOptions) {
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName: idempotencyTableName,
    awsSdkV3Client: client,
  });
  const config = new IdempotencyConfig({ eventKeyJmesPath: 'key', expiresAfterSeconds: 3600 });

  const applyOnce = makeIdempotent(
    async (envelope: Envelope) => {
      const plan = planNotification(envelope, new Date(), { retentionDays: 90 });
      let status = plan.status ?? 'applied';
      for (const write of plan.stateWrites) {
        try {
          await client.send(stateUpdate(tableName, write));
        } catch (error) {
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
          status = 'stale';
        }
      }
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: marshall(
            {
              ...plan.notification,
              status,
              processed_at: new Date().toISOString(),
              pk: keys.notification(envelope.key),
            },
            marshallOptions,
          ),
        }),
      );
      logger.info('notification processed', { ...plan.logFields, status });
      return { status };
    },
    { persistenceStore, config },
  );

  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    config.registerLambdaContext(context);
    const results = await Promise.allSettled(
      event.Records.map((record) => applyOnce(decodeEnvelope(record.body))),
    );
    return {
      batchItemFailures: results.flatMap((result, i) =>
        result.status === 'rejected' ? [{ itemIdentifier: event.Records[i]?.messageId ?? '' }] : [],
      ),
    };
  };
}

// Lambda entry, for the bundle-size comparison.
const live = makePowertoolsWorker({
  client: new DynamoDBClient({}),
  tableName: process.env.TABLE_NAME ?? '',
  idempotencyTableName: process.env.IDEMPOTENCY_TABLE_NAME ?? '',
  logger: createLogger('worker'),
});
export const handler = (event: SQSEvent, context: Context) => live(event, context);
