import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { makeHandler } from '../../../functions/ingest/handler.ts';
import { SqsNotificationQueue } from '../../../shared/aws/sqs-queue.ts';
import { createLogger } from '../../../shared/logger.ts';
import { SignedSecretsManagerSecrets } from './signed-secrets.ts';

/** What-if entry: functions/ingest/handler.ts with the secret read by a signed request, not the SDK client. */
const live = makeHandler({
  queue: new SqsNotificationQueue(new SQSClient({}), process.env.QUEUE_URL ?? ''),
  secrets: new SignedSecretsManagerSecrets(
    process.env.SECRET_ARN ?? '',
    Number(process.env.SECRETS_CACHE_SECONDS ?? '300') * 1000,
  ),
  clock: () => new Date(),
  logger: createLogger('ingest'),
});
export const handler = (event: APIGatewayProxyEventV2) => live(event);
