import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withContractBody } from '#shared/contract/body-codec.ts';
import { NOTIFICATION_BODY_MAX_BYTES } from '#shared/contract/limits.ts';
import { keys } from '#shared/contract/records.ts';
import { idempotencyKey } from '#shared/notifications/envelope.ts';
import { signBody } from '#shared/notifications/signature.ts';
import type { LocalStack } from '../../infra/local/stack.ts';
import { eventTriggerBody, schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { startTestStack } from '../support/local-mode.ts';

/**
 * Signed bodies that are valid JSON but awkward for DynamoDB, and valid UTF-8 bodies at the size limit that
 * JSON escaping grows past the queue's limit, through local mode over real HTTP: each is answered 202 and
 * recorded on the first attempt, nothing reaches the dead-letter queue.
 */

const SECRET = 'CRN_e2e_awkward_secret';
let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack('awkward', SECRET);
});
afterAll(async () => stack?.stop());

async function post(body: string): Promise<number> {
  const response = await fetch(`${stack.url}/cronofy/notifications`, {
    method: 'POST',
    headers: { 'Cronofy-HMAC-SHA256': signBody(body, SECRET), 'Content-Type': 'application/json' },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

async function item(pk: string): Promise<Record<string, unknown> | undefined> {
  const result = await stack.clients.dynamodb.send(
    new GetItemCommand({ TableName: stack.tableName, Key: { pk: { S: pk } }, ConsistentRead: true }),
  );
  return result.Item ? withContractBody(unmarshall(result.Item)) : undefined;
}

async function recordOf(body: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  const pk = keys.notification(idempotencyKey(Buffer.from(body)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await item(pk);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no notification record ${pk}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

let deep = '"bottom"';
for (let i = 0; i < 40; i++) deep = `{"d":${deep}}`;
const withMetadata = (id: string, json: string) =>
  schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: id }).replace(
    '"utm_source":"ats"',
    `"utm_source":"ats",${json}`,
  );

describe('awkward signed bodies through local mode', () => {
  it.each([
    [
      'nesting 40 deep in an unknown field',
      schedulingRequestBody('scheduling_request_time_chosen', {
        schedulingRequestId: 'srq_e2e_deep',
      }).replace('"status":"accepted"', `"status":"accepted","extra":${deep}`),
    ],
    ['a 20-digit phone number', withMetadata('srq_e2e_phone', '"captured_data.phone":12345678901234567890')],
    ['1e200', withMetadata('srq_e2e_big', '"captured_data.n":1e200')],
    ['an empty attribute name', withMetadata('srq_e2e_empty', '"":"empty"')],
    [
      'a 2,100-character id',
      schedulingRequestBody('scheduling_request_time_chosen', {
        schedulingRequestId: `srq_${'x'.repeat(2100)}`,
      }),
    ],
    [
      'an Event Trigger offset of 1e12 minutes',
      eventTriggerBody({ before: 'event_start', offset: { minutes: 1e12 } }, { eventId: 'evt_e2e_offset' }),
    ],
  ])('%s: 202, then recorded and applied', async (_, body) => {
    expect(await post(body)).toBe(202);
    const record = await recordOf(body);
    expect(record).toMatchObject({ status: 'applied', body, body_encoding: 'utf8' });
  });

  it('keeps the exact digits of the phone number on the scheduling request', async () => {
    const body = withMetadata('srq_e2e_phone_state', '"captured_data.phone":12345678901234567890');
    expect(await post(body)).toBe(202);
    await recordOf(body);
    const state = await item(keys.schedulingRequest('srq_e2e_phone_state'));
    expect(state?.metadata).toMatchObject({ 'captured_data.phone': '12345678901234567890' });
  });

  it.each([
    ['quotes', '"'],
    ['backslashes', '\\\\'],
  ])(
    'a valid UTF-8 body at the size limit full of escaped %s is kept as text, not as binary',
    async (_, unit) => {
      const prefix = '{"notification":{"type":"brand_new_type"},"notes":"';
      const escaped = `\\${unit === '"' ? '"' : '\\'}`; // one escaped character: two bytes of JSON
      const room = NOTIFICATION_BODY_MAX_BYTES - prefix.length - 2;
      const body = `${prefix}${escaped.repeat(Math.floor(room / 2))}"}`;
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(NOTIFICATION_BODY_MAX_BYTES);
      expect(await post(body)).toBe(202);
      const record = await recordOf(body);
      expect(record).toMatchObject({ status: 'unknown_type', type: 'brand_new_type', body_encoding: 'utf8' });
      expect(record.body).toBe(body);
    },
  );

  it('leaves the dead-letter queue empty', async () => {
    const { GetQueueAttributesCommand } = await import('@aws-sdk/client-sqs');
    const attributes = await stack.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.dlqUrl,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    expect(attributes.Attributes?.ApproximateNumberOfMessages).toBe('0');
  });
});
