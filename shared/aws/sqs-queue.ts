import { SendMessageCommand, type SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';
import type { NotificationQueue } from '../core/ports.ts';

/**
 * Client settings for the ingest path: Cronofy treats a slow answer as a failure (7 s for Event Triggers),
 * so a queue that does not answer must become a quick 503 (Cronofy retries) rather than a hang. Three
 * attempts of at most 1.5 s each, plus the SDK's short backoff, stay well inside that.
 */
export const INGEST_SQS_CLIENT_CONFIG = {
  maxAttempts: 3,
  // Without throwOnRequestTimeout, current SDKs only log a warning when requestTimeout passes, and wait on.
  requestHandler: { connectionTimeout: 500, requestTimeout: 1500, throwOnRequestTimeout: true },
} as const satisfies SQSClientConfig;

export class QueueUnavailableError extends Error {
  override readonly name = 'QueueUnavailableError';
}

export class SqsNotificationQueue implements NotificationQueue {
  constructor(
    private readonly client: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
  ) {}

  async send(message: string): Promise<void> {
    try {
      await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: message }));
    } catch (error) {
      throw new QueueUnavailableError(`SendMessage failed: ${(error as Error).name}`);
    }
  }
}
