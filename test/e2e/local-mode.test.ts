import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withContractBody } from '#shared/contract/body-codec.ts';
import { appliedKey } from '#shared/contract/ordering.ts';
import { keys, parseStreamImage } from '#shared/contract/records.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import type { StreamChange } from '../../infra/local/stream.ts';
import { schedulingRequestBody } from '../support/cronofy-payloads.ts';

/**
 * Local mode end to end, over real HTTP: gateway → ingest → SQS emulator → poller → worker → DynamoDB Local
 * → stream, started once for the file with startLocalStack on free ports. Signed as Cronofy signs.
 */

const SECRETS = {
  clientSecrets: ['CRN_e2e_local_mode_secret'],
  embedPublicKey: 'EMB_e2e_local_mode',
  embedSecret: 'ESK_e2e_local_mode',
};

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({
    quiet: true,
    tableName: `e2e-local-${process.pid}`,
    visibilityTimeoutSeconds: 5,
    env: {
      CRONOFY_CLIENT_SECRETS: SECRETS.clientSecrets.join(','),
      CRONOFY_EMBED_PUBLIC_KEY: SECRETS.embedPublicKey,
      CRONOFY_EMBED_SECRET: SECRETS.embedSecret,
    },
  });
});

afterAll(async () => {
  await stack?.stop();
});

const secret = () => SECRETS.clientSecrets[0] as string;
const sha256Key = (body: string | Uint8Array) => `sha256:${createHash('sha256').update(body).digest('hex')}`;
const newRequestId = () => `srq_${randomBytes(12).toString('hex')}`;

function post(body: string | Uint8Array, headers: Record<string, string> = {}) {
  return fetch(`${stack.url}/cronofy/notifications`, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body,
  });
}

function postSigned(body: string | Uint8Array, headers: Record<string, string> = {}) {
  return post(body, { 'cronofy-hmac-sha256': signBody(body, secret()), ...headers });
}

async function getItem(pk: string): Promise<Record<string, unknown> | undefined> {
  const result = await stack.clients.dynamodb.send(
    new GetItemCommand({ TableName: stack.tableName, Key: { pk: { S: pk } }, ConsistentRead: true }),
  );
  return result.Item ? withContractBody(unmarshall(result.Item)) : undefined;
}

async function queueDepth(): Promise<number> {
  const result = await stack.clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: stack.queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(result.Attributes?.ApproximateNumberOfMessages) +
    Number(result.Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}

/** Until every message is processed and deleted (received messages count until they are deleted). */
async function drained(timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await queueDepth()) > 0) {
    if (Date.now() > deadline) throw new Error('queue did not drain');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const notificationInsert = (key: string) => (change: StreamChange) =>
  change.pk === keys.notification(key) && change.eventName === 'INSERT';

describe.concurrent('POST /cronofy/notifications, signed', () => {
  it('answers 202, and the worker writes the scheduling request and the notification, both on the stream', async () => {
    const id = newRequestId();
    const body = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: id,
      correlationId: 'cand-42',
      triggeredAt: '2026-11-23T10:15:30Z',
      capturedData: { 'captured_data.notes': 'Step-free access please' },
    });

    const response = await postSigned(body);

    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ status: 'accepted' });
    expect(response.headers.get('apigw-requestid')).toBeTruthy();

    const change = await stack.stream.waitFor((c) => c.pk === keys.schedulingRequest(id));
    expect(change.eventName).toBe('INSERT');
    const record = parseStreamImage(change.record.dynamodb?.NewImage ?? {});
    expect(record).toMatchObject({
      entity: 'scheduling_request',
      scheduling_request_id: id,
      status: 'time_chosen',
      correlation_id: 'cand-42',
      recipient_tzid: 'Europe/Paris',
      last_notification_type: 'scheduling_request_time_chosen',
      triggered_at: '2026-11-23T10:15:30.000Z',
      lifecycle_applied: [appliedKey(sha256Key(body))],
      participants_applied: [appliedKey(sha256Key(body))],
      participants_triggered_at: '2026-11-23T10:15:30.000Z',
      revision: 1,
      metadata: {
        correlation_id: 'cand-42',
        utm_source: 'ats',
        'captured_data.phone_number': '0118999881999119725 3',
        'captured_data.notes': 'Step-free access please',
      },
      event: {
        start: { time: '2026-12-01T14:00:00Z', tzid: 'Europe/London' },
        end: { time: '2026-12-01T14:30:00Z', tzid: 'Europe/London' },
        summary: 'Interview - Candidate & Hiring team',
        host: { email: 'host@example.com', status: 'accepted' },
        attendees: [
          { email: 'candidate@example.com', status: 'accepted' },
          { email: 'panel@example.com', status: 'needs_action' },
        ],
      },
    });
    expect(Date.parse((record as { updated_at: string }).updated_at)).not.toBeNaN();

    // The table holds what the stream carried.
    const item = await getItem(keys.schedulingRequest(id));
    expect(item).toMatchObject({
      entity: 'scheduling_request',
      status: 'time_chosen',
      correlation_id: 'cand-42',
    });

    const notification = await stack.stream.waitFor(notificationInsert(sha256Key(body)));
    expect(parseStreamImage(notification.record.dynamodb?.NewImage ?? {})).toMatchObject({
      entity: 'notification',
      notification_id: sha256Key(body),
      type: 'scheduling_request_time_chosen',
      status: 'applied',
      scheduling_request_id: id,
      triggered_at: '2026-11-23T10:15:30.000Z',
      body,
      body_encoding: 'utf8',
    });
    expect((await getItem(keys.notification(sha256Key(body))))?.body).toBe(body);
  });

  it('keys a notification by its body digest; the Cronofy-Notification-ID header is kept for tracing only', async () => {
    const notificationId = `e2e-${randomBytes(8).toString('hex')}`;
    const id = newRequestId();
    const body = schedulingRequestBody('scheduling_request_declined', { schedulingRequestId: id });
    const seen: StreamChange[] = [];
    const listener = (change: StreamChange) => seen.push(change);
    stack.stream.on('change', listener);

    try {
      expect((await postSigned(body, { 'cronofy-notification-id': notificationId })).status).toBe(202);
      const change = await stack.stream.waitFor(notificationInsert(sha256Key(body)));
      expect(change.newImage).toMatchObject({
        notification_id: sha256Key(body),
        cronofy_notification_id: notificationId,
        status: 'applied',
        type: 'scheduling_request_declined',
      });
      // The same signed bytes replayed under fresh header ids (no triggered_at: ordered by receipt time, so
      // only the notification record tells it is a replay): no further effect, the first header id kept.
      await drained();
      for (const fresh of ['e2e-replay-1', 'e2e-replay-2'])
        expect((await postSigned(body, { 'cronofy-notification-id': fresh })).status).toBe(202);
      await drained();
      await new Promise((resolve) => setTimeout(resolve, 500)); // the tail reads every 100 ms
    } finally {
      stack.stream.off('change', listener);
    }

    expect(seen.filter((c) => c.pk === keys.schedulingRequest(id)).map((c) => c.eventName)).toEqual([
      'INSERT',
    ]);
    expect(seen.filter((c) => c.pk === keys.notification(sha256Key(body))).map((c) => c.eventName)).toEqual([
      'INSERT',
    ]);
    expect(await getItem(keys.notification(notificationId))).toBeUndefined();
    expect((await getItem(keys.notification(sha256Key(body))))?.cronofy_notification_id).toBe(notificationId);
  });

  it('accepts a rotation header whose second value is the one that matches', async () => {
    const id = newRequestId();
    const body = schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: id });
    const header = `${signBody(body, 'CRN_an_old_secret_no_longer_configured')}, ${signBody(body, secret())}`;

    const response = await post(body, { 'cronofy-hmac-sha256': header });

    expect(response.status).toBe(202);
    const change = await stack.stream.waitFor((c) => c.pk === keys.schedulingRequest(id));
    expect(change.newImage?.status).toBe('time_chosen');
  });

  it('joins a repeated signature header with "," as API Gateway does, whichever line matches', async () => {
    const url = new URL(`${stack.url}/cronofy/notifications`);
    // fetch would merge the values itself; node:http sends an array value as two header lines, as a proxy may.
    const send = (body: string, values: string[]) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              'Cronofy-HMAC-SHA256': values,
            },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const [first, second] = [newRequestId(), newRequestId()];
    const firstBody = schedulingRequestBody('scheduling_request_rescheduled', { schedulingRequestId: first });
    const secondBody = schedulingRequestBody('scheduling_request_rescheduled', {
      schedulingRequestId: second,
    });

    // Keeping only the first or only the last line would fail one of the two.
    const statuses = await Promise.all([
      send(firstBody, [signBody(firstBody, 'CRN_some_other_secret'), signBody(firstBody, secret())]),
      send(secondBody, [signBody(secondBody, secret()), signBody(secondBody, 'CRN_some_other_secret')]),
    ]);

    expect(statuses).toEqual([202, 202]);
    for (const id of [first, second]) {
      const change = await stack.stream.waitFor((c) => c.pk === keys.schedulingRequest(id));
      expect(change.newImage?.status).toBe('rescheduled');
    }
  });

  it('has exactly one effect for a duplicate delivery of the same body', async () => {
    const id = newRequestId();
    const body = schedulingRequestBody('scheduling_request_time_chosen', { schedulingRequestId: id });
    const seen: StreamChange[] = [];
    const listener = (change: StreamChange) => seen.push(change);
    stack.stream.on('change', listener);

    try {
      const [first, second] = await Promise.all([postSigned(body), postSigned(body)]);
      expect([first.status, second.status]).toEqual([202, 202]);
      await stack.stream.waitFor(notificationInsert(sha256Key(body)));
      await drained(); // both deliveries processed and deleted
      await new Promise((resolve) => setTimeout(resolve, 500)); // the tail reads every 100 ms
    } finally {
      stack.stream.off('change', listener);
    }

    const requestChanges = seen.filter((c) => c.pk === keys.schedulingRequest(id));
    expect(requestChanges.map((c) => c.eventName)).toEqual(['INSERT']);
    expect(seen.filter((c) => c.pk === keys.notification(sha256Key(body))).map((c) => c.eventName)).toEqual([
      'INSERT',
    ]);
    expect(await getItem(keys.schedulingRequest(id))).toMatchObject({
      lifecycle_applied: [appliedKey(sha256Key(body))],
      participants_applied: [appliedKey(sha256Key(body))],
      revision: 1,
    });
  });

  it('keeps an unknown notification type as a notification with status unknown_type', async () => {
    const body = JSON.stringify({
      notification: { type: 'scheduling_request_brand_new_step', triggered_at: '2026-11-23T11:00:00Z' },
      scheduling_request: { scheduling_request_id: newRequestId() },
    });

    const response = await postSigned(body);

    expect(response.status).toBe(202);
    const change = await stack.stream.waitFor(notificationInsert(sha256Key(body)));
    expect(change.newImage).toMatchObject({
      entity: 'notification',
      type: 'scheduling_request_brand_new_step',
      status: 'unknown_type',
      triggered_at: '2026-11-23T11:00:00.000Z',
      body,
    });
  });

  it('keeps a signed body that is not JSON as a notification with status unparseable, verbatim', async () => {
    const body = '{"notification": {"type": "scheduling_request_time_chosen"}, "scheduling_request": ';

    const response = await postSigned(body);

    expect(response.status).toBe(202);
    const change = await stack.stream.waitFor(notificationInsert(sha256Key(body)));
    expect(change.newImage).toMatchObject({ status: 'unparseable', type: null, body, body_encoding: 'utf8' });
  });

  it('passes the exact bytes through the gateway: a body that is not UTF-8 verifies and is kept in base64', async () => {
    const body = Buffer.concat([
      Buffer.from('{"notification":{"type":"x"},"note":"'),
      Buffer.from([0xff, 0xfe, 0x00]),
      Buffer.from('"}'),
    ]);

    const response = await postSigned(body);

    expect(response.status).toBe(202);
    const change = await stack.stream.waitFor(notificationInsert(sha256Key(body)));
    expect(change.newImage).toMatchObject({
      status: 'unparseable',
      body_encoding: 'base64',
      body: body.toString('base64'),
    });
  });
});

describe('stream tail', () => {
  it('can be consumed with for await, change by change', async () => {
    const id = newRequestId();
    const body = schedulingRequestBody('scheduling_request_no_times_available', { schedulingRequestId: id });
    const seen: string[] = [];

    const consumer = (async () => {
      for await (const change of stack.stream) {
        if (change.pk === keys.schedulingRequest(id))
          seen.push(`${change.eventName} ${change.newImage?.status}`);
        if (change.pk === keys.notification(sha256Key(body))) return;
      }
    })();
    expect((await postSigned(body)).status).toBe(202);
    await consumer;

    expect(seen).toEqual(['INSERT no_times_available']);
  });
});

describe('POST /cronofy/notifications, rejected', () => {
  it('answers 401 to an unsigned or wrongly signed body and enqueues nothing', async () => {
    await drained();
    const unsigned = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: newRequestId(),
    });
    const wronglySigned = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: newRequestId(),
    });

    const responses = await Promise.all([
      post(unsigned),
      post(wronglySigned, { 'cronofy-hmac-sha256': signBody(wronglySigned, 'CRN_not_our_secret') }),
      post(wronglySigned, { 'cronofy-hmac-sha256': 'not base64 at all' }),
    ]);

    expect(responses.map((r) => r.status)).toEqual([401, 401, 401]);
    expect(await responses[0]?.json()).toMatchObject({ error: 'unauthorized' });
    // Anything enqueued would still be on the queue (visible or in flight) for at least the batching window.
    expect(await queueDepth()).toBe(0);
    // And nothing downstream: a signed marker sent afterwards is processed, the rejected bodies never are.
    const marker = schedulingRequestBody('scheduling_request_declined', {
      schedulingRequestId: newRequestId(),
    });
    expect((await postSigned(marker)).status).toBe(202);
    await stack.stream.waitFor(notificationInsert(sha256Key(marker)));
    await drained();
    expect(await getItem(keys.notification(sha256Key(unsigned)))).toBeUndefined();
    expect(await getItem(keys.notification(sha256Key(wronglySigned)))).toBeUndefined();
  });

  it('answers 413 to a body over the ingest limit, and to one over API Gateway’s 10 MB before reading it all', async () => {
    const overIngest = Buffer.alloc(200 * 1024, 0x20);
    const overGateway = Buffer.alloc(10 * 1024 * 1024 + 1, 0x20);

    const [ingest, gateway] = await Promise.all([postSigned(overIngest), post(overGateway)]);

    expect(ingest.status).toBe(413);
    expect(await ingest.json()).toMatchObject({ error: 'payload_too_large' });
    expect(gateway.status).toBe(413);
    expect(await gateway.json()).toEqual({ message: 'Request Entity Too Large' });
  });
});

describe('gateway', () => {
  it('answers GET /healthz with 200 {"status":"ok"}', async () => {
    const response = await fetch(`${stack.url}/healthz`);

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('answers 404 {"message":"Not Found"} for an unknown path or a route’s wrong method, as API Gateway does', async () => {
    const [unknownPath, wrongMethod, trailingSlash] = await Promise.all([
      fetch(`${stack.url}/cronofy/unknown`, { method: 'POST', body: '{}' }),
      fetch(`${stack.url}/cronofy/notifications`),
      fetch(`${stack.url}/healthz/`),
    ]);

    for (const response of [unknownPath, wrongMethod, trailingSlash]) {
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ message: 'Not Found' });
    }
  });

  it('answers 403 {"message":"Forbidden"} on the token routes without the local credential', async () => {
    const [none, wrong, embed] = await Promise.all([
      fetch(`${stack.url}/tokens/claim`, { method: 'POST', body: '{}' }),
      fetch(`${stack.url}/tokens/claim`, {
        method: 'POST',
        body: '{}',
        headers: { authorization: 'Bearer not-the-token' },
      }),
      fetch(`${stack.url}/tokens/embed`, { method: 'POST', body: '{}' }),
    ]);

    for (const response of [none, wrong, embed]) {
      expect(response.status).toBe(403);
      expect(await response.json()).toEqual({ message: 'Forbidden' });
    }
    // With the credential the request reaches the tokens function (whatever it answers, it is not the gateway's 403).
    const allowed = await fetch(`${stack.url}/tokens/claim`, {
      method: 'POST',
      body: '{}',
      headers: { authorization: `Bearer ${stack.apiToken}` },
    });
    expect(allowed.status).not.toBe(403);
  });
});
