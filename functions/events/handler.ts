import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { EventBridgePublisher, eventBridgeClient } from '#shared/aws/event-bus.ts';
import { ENV, requiredEnv } from '#shared/contract/env.ts';
import { once } from '#shared/core/lazy.ts';
import { createLogger } from '#shared/core/logger.ts';
import { type PublishDeps, publishStreamBatch } from '#shared/events/publish.ts';

/**
 * Entry adapter for the table stream's event source mapping (ReportBatchItemFailures, bisect on error): the
 * records' downstream events onto the bus, in order. A failure names the first record not published; the
 * mapping retries from it.
 */
export function makeHandler(deps: PublishDeps) {
  return async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    const failed = await publishStreamBatch(
      event.Records.map((record) => ({ itemIdentifier: record.dynamodb?.SequenceNumber ?? '', record })),
      deps,
    );
    return { batchItemFailures: failed === undefined ? [] : [{ itemIdentifier: failed }] };
  };
}

function depsFromEnv(): PublishDeps {
  return {
    publisher: new EventBridgePublisher({
      busName: requiredEnv(process.env, ENV.eventBusName),
      client: eventBridgeClient(),
    }),
    logger: createLogger('events'),
  };
}

const live = once(() => makeHandler(depsFromEnv()));
export const handler = (event: DynamoDBStreamEvent) => live()(event);
