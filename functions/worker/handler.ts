import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { DynamoRecordStore, WORKER_DYNAMODB_CLIENT_CONFIG } from '#shared/aws/dynamo-store.ts';
import { ENV, requiredEnv, wholeNumberEnv } from '#shared/contract/env.ts';
import { once } from '#shared/core/lazy.ts';
import { createLogger } from '#shared/core/logger.ts';
import { emfLines, type Outcome } from '#shared/core/metrics.ts';
import { processBatch, type WorkerDeps } from '#shared/notifications/apply.ts';

/**
 * Entry adapter for the SQS event source mapping (ReportBatchItemFailures). `writeMetric` receives
 * Embedded Metric Format lines (stdout in Lambda; local mode may leave it out).
 */
export function makeHandler(
  deps: WorkerDeps,
  writeMetric?: (line: string) => void,
  metricsNamespace?: string,
) {
  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const outcomes: Outcome[] = [];
    const failures = await processBatch(
      event.Records.map((record) => ({ messageId: record.messageId, body: record.body })),
      writeMetric ? { ...deps, onOutcome: (outcome) => outcomes.push(outcome) } : deps,
    );
    if (writeMetric) for (const line of emfLines(outcomes, deps.clock(), metricsNamespace)) writeMetric(line);
    return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

function depsFromEnv(): WorkerDeps {
  const tableName = requiredEnv(process.env, ENV.tableName);
  const retentionDays = wholeNumberEnv(
    process.env,
    ENV.notificationRetentionDays,
    0,
    'must be a whole number of days (0 keeps records forever)',
  );
  return {
    retentionDays,
    store: new DynamoRecordStore(new DynamoDBClient(WORKER_DYNAMODB_CLIENT_CONFIG), tableName),
    clock: () => new Date(),
    logger: createLogger('worker'),
  };
}

const live = once(() =>
  makeHandler(
    depsFromEnv(),
    (line) => process.stdout.write(`${line}\n`),
    requiredEnv(process.env, ENV.metricsNamespace),
  ),
);
export const handler = (event: SQSEvent) => live()(event);
