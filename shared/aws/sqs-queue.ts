import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { NotificationQueue } from '../ports.ts';

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
