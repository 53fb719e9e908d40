import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { QueueUnavailableError } from '#shared/aws/sqs-queue.ts';
import { NOTIFICATION_BODY_MAX_BYTES } from '#shared/contract/limits.ts';
import type { NotificationQueue } from '#shared/core/ports.ts';
import { idempotencyKey } from '#shared/notifications/envelope.ts';
import { decodeEnvelope } from '#shared/notifications/queue-message.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { makeHandler } from '../../functions/ingest/handler.ts';
import { capturingLogger } from '../support/capturing-logger.ts';

const SECRET = 'CRN_current';
const OLD_SECRET = 'CRN_previous';

class FakeQueue implements NotificationQueue {
  sent: string[] = [];
  down = false;
  async send(message: string) {
    if (this.down) throw new QueueUnavailableError('down');
    this.sent.push(message);
  }
}

function setup() {
  const queue = new FakeQueue();
  const { logger, lines } = capturingLogger();
  const handler = makeHandler({
    queue,
    secrets: new StaticSecrets({
      clientSecrets: [SECRET, OLD_SECRET],
      embedPublicKey: 'EMB_x',
      embedSecret: 'ESK_x',
    }),
    clock: () => new Date('2026-11-23T10:00:00.000Z'),
    logger,
  });
  return { queue, handler, lines };
}

function event(
  body: string | Buffer,
  headers: Record<string, string>,
  options: { base64?: boolean; method?: string; path?: string } = {},
) {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return {
    version: '2.0',
    routeKey: 'POST /cronofy/notifications',
    rawPath: options.path ?? '/cronofy/notifications',
    rawQueryString: '',
    headers,
    requestContext: {
      http: { method: options.method ?? 'POST', path: options.path ?? '/cronofy/notifications' },
    },
    body: options.base64 ? bytes.toString('base64') : bytes.toString('utf8'),
    isBase64Encoded: options.base64 ?? false,
  } as unknown as APIGatewayProxyEventV2;
}

const BODY =
  '{"notification":{"type":"scheduling_request_time_chosen"},"scheduling_request":{"scheduling_request_id":"srq_1","recipients":[{"email":"secret.person@example.com"}]}}';

describe('ingest handler', () => {
  it('accepts a signed notification with 202 and enqueues the raw body, keyed by its digest', async () => {
    const { handler, queue } = setup();
    const response = await handler(
      event(BODY, { 'cronofy-hmac-sha256': signBody(BODY, SECRET), 'cronofy-notification-id': 'ntf_9' }),
    );
    expect(response.statusCode).toBe(202);
    expect(JSON.parse(response.body ?? '')).toEqual({ status: 'accepted' });
    expect(queue.sent).toHaveLength(1);
    expect(decodeEnvelope(queue.sent[0] ?? '')).toEqual({
      key: idempotencyKey(Buffer.from(BODY)),
      headerId: 'ntf_9',
      receivedAt: '2026-11-23T10:00:00.000Z',
      encoding: 'utf8',
      body: BODY,
    });
  });

  it('decodes base64 bodies from API Gateway before verifying', async () => {
    const { handler, queue } = setup();
    const raw = Buffer.from([0x7b, 0xff, 0x7d]);
    const response = await handler(
      event(raw, { 'cronofy-hmac-sha256': signBody(raw, SECRET) }, { base64: true }),
    );
    expect(response.statusCode).toBe(202);
    expect(Buffer.from(decodeEnvelope(queue.sent[0] ?? '').body, 'base64').equals(raw)).toBe(true);
  });

  it('accepts a multi-value header signed with the previous secret (rotation)', async () => {
    const { handler } = setup();
    const header = `${signBody(BODY, 'CRN_unknown')}, ${signBody(BODY, OLD_SECRET)}`;
    expect((await handler(event(BODY, { 'Cronofy-HMAC-SHA256': header }))).statusCode).toBe(202);
  });

  it('answers 401 for a missing or wrong signature, enqueues nothing and never logs the body', async () => {
    const { handler, queue, lines } = setup();
    expect((await handler(event(BODY, {}))).statusCode).toBe(401);
    const wrong = await handler(event(BODY, { 'cronofy-hmac-sha256': signBody(`${BODY} `, SECRET) }));
    expect(wrong.statusCode).toBe(401);
    expect(JSON.parse(wrong.body ?? '')).toEqual({
      error: 'unauthorized',
      message: 'missing or invalid Cronofy-HMAC-SHA256 signature',
    });
    expect(queue.sent).toHaveLength(0);
    expect(lines.join('\n')).not.toContain('secret.person');
    expect(lines.join('\n')).not.toContain(signBody(`${BODY} `, SECRET));
  });

  it('answers 413 above the documented limit', async () => {
    const { handler, queue } = setup();
    const big = 'x'.repeat(NOTIFICATION_BODY_MAX_BYTES + 1);
    const response = await handler(event(big, { 'cronofy-hmac-sha256': signBody(big, SECRET) }));
    expect(response.statusCode).toBe(413);
    expect(queue.sent).toHaveLength(0);
  });

  it('answers 503 when the queue is unreachable, so Cronofy retries', async () => {
    const { handler, queue } = setup();
    queue.down = true;
    const response = await handler(event(BODY, { 'cronofy-hmac-sha256': signBody(BODY, SECRET) }));
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe('5');
  });

  it('accepts a signed body that is not JSON (kept by the worker as unparseable)', async () => {
    const { handler, queue } = setup();
    const body = 'not json at all';
    expect((await handler(event(body, { 'cronofy-hmac-sha256': signBody(body, SECRET) }))).statusCode).toBe(
      202,
    );
    expect(queue.sent).toHaveLength(1);
  });

  it('serves GET /healthz', async () => {
    const { handler } = setup();
    const response = await handler(event('', {}, { method: 'GET', path: '/healthz' }));
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body ?? '')).toEqual({ status: 'ok' });
  });
});

describe('ingest when the secret cannot be read', () => {
  it('answers 503 so Cronofy retries, and enqueues nothing', async () => {
    const queue = new FakeQueue();
    const handler = makeHandler({
      queue,
      secrets: { get: () => Promise.reject(new Error('AccessDeniedException')) },
      clock: () => new Date(),
      logger: capturingLogger().logger,
    });
    const response = await handler(event(BODY, { 'cronofy-hmac-sha256': signBody(BODY, SECRET) }));
    expect(response.statusCode).toBe(503);
    expect(queue.sent).toHaveLength(0);
  });
});
