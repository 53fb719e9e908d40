import { createHmac, timingSafeEqual } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';

/**
 * The ingest floor: the least any ingest can do. Check the HMAC (every configured secret against every
 * header value, as ours does) and send the body with one SendMessage. No envelope, no logging, no parsing.
 * Bundled on its own it is also the cold-start floor: the bare SQS client plus node:crypto.
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

// Lambda entry of the floor bundle: module-scope client, as any Lambda would have it.
const client = new SQSClient({});
export const handler = makeFloorHandler(
  client,
  process.env.QUEUE_URL ?? '',
  (process.env.FLOOR_SECRETS ?? '').split(','),
);
