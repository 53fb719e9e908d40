import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { once } from '#shared/aws/api-gateway.ts';
import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { createLogger } from '#shared/logger.ts';
import { processBatch, type WorkerDeps } from '#shared/worker/process.ts';

/** Entry adapter for the SQS event source mapping (ReportBatchItemFailures). */
export function makeHandler(deps: WorkerDeps) {
  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const failures = await processBatch(
      event.Records.map((record) => ({ messageId: record.messageId, body: record.body })),
      deps,
    );
    return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

function depsFromEnv(): WorkerDeps {
  const tableName = process.env.TABLE_NAME;
  if (!tableName) throw new Error('TABLE_NAME is not set');
  return {
    store: new DynamoRecordStore(new DynamoDBClient({}), tableName),
    clock: () => new Date(),
    logger: createLogger('worker'),
  };
}

const live = once(() => makeHandler(depsFromEnv()));
export const handler = (event: SQSEvent) => live()(event);
