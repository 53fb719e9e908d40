import { createHmac, timingSafeEqual } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * The ingest floor: the least any ingest can do. Check the HMAC (every configured secret against every
 * header value, as ours does) and send the body with one SendMessage. No envelope, no logging, no parsing.
 */

interface FloorEvent {
  headers?: Record<string, string | undefined>;
  body?: string;
}

interface FloorResult {
  statusCode: number;
  body: string;
}

export function makeFloorHandler(
  client: Pick<SQSClient, 'send'>,
  queueUrl: string,
  secrets: readonly string[],
) {
  return async (event: FloorEvent): Promise<FloorResult> => {
    const body = event.body ?? '';
    const values = (event.headers?.['cronofy-hmac-sha256'] ?? '')
      .split(',')
      .map((v) => Buffer.from(v.trim(), 'base64'));
    let matched = false;
    for (const secret of secrets) {
      const expected = createHmac('sha256', secret).update(body).digest();
      for (const value of values) if (value.length === 32 && timingSafeEqual(expected, value)) matched = true;
    }
    if (!matched) return { statusCode: 401, body: '' };
    await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
    return { statusCode: 202, body: '' };
  };
}
