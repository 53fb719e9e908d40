import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { NOTIFICATION_BODY_MAX_BYTES } from '#shared/contract/limits.ts';
import { LOG_EVENTS } from '#shared/core/log-events.ts';
import type { NotificationQueue, TenantDirectory } from '#shared/core/ports.ts';
import { encodeEnvelope, idempotencyKey } from '#shared/notifications/envelope.ts';
import { decodeEnvelope } from '#shared/notifications/queue-message.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { makeHandler } from '../../functions/ingest/handler.ts';
import { capturingLogger } from '../support/capturing-logger.ts';

/** `POST /cronofy/notifications/{tenant_id}`: the tenant's own secrets or the application's, and nothing to enumerate. */

const APP_SECRET = 'CRN_application';
const TENANT_SECRET = 'CRN_acme_own';
const OTHER_TENANT_SECRET = 'CRN_globex_own';
const BODY =
  '{"notification":{"type":"scheduling_request_time_chosen"},"scheduling_request":{"scheduling_request_id":"srq_1"}}';

class FakeQueue implements NotificationQueue {
  sent: string[] = [];
  async send(message: string) {
    this.sent.push(message);
  }
}

/** A directory with two tenants that records every lookup. */
class FakeDirectory implements TenantDirectory {
  lookups: string[] = [];
  down = false;
  readonly tenants = new Map<string, readonly string[]>([
    ['acme', [TENANT_SECRET]],
    ['globex', [OTHER_TENANT_SECRET]],
  ]);
  async clientSecrets(tenantId: string) {
    this.lookups.push(tenantId);
    if (this.down) throw new Error('tenants table unreachable');
    return this.tenants.get(tenantId);
  }
}

function setup() {
  const queue = new FakeQueue();
  const tenants = new FakeDirectory();
  const { logger, lines } = capturingLogger();
  const handler = makeHandler({
    queue,
    secrets: new StaticSecrets({
      clientSecrets: [APP_SECRET],
      embedPublicKey: 'EMB_x',
      embedSecret: 'ESK_x',
    }),
    clock: () => new Date('2026-11-23T10:00:00.000Z'),
    logger,
    tenants,
  });
  return { queue, tenants, handler, lines };
}

/** A request as API Gateway gives it for the tenant route (`pathParameters.tenant_id`, URL-decoded). */
function tenantEvent(tenantId: string, body: string, headers: Record<string, string>) {
  const path = `/cronofy/notifications/${encodeURIComponent(tenantId)}`;
  return {
    version: '2.0',
    routeKey: 'POST /cronofy/notifications/{tenant_id}',
    rawPath: path,
    rawQueryString: '',
    headers,
    pathParameters: { tenant_id: tenantId },
    requestContext: { http: { method: 'POST', path } },
    body,
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

const signed = (secret: string, body = BODY) => ({ 'cronofy-hmac-sha256': signBody(body, secret) });

describe('tenant notification URL', () => {
  it("accepts the tenant's own secret, and the message says the tenant and that only its secret signed", async () => {
    const { handler, queue } = setup();
    const response = await handler(tenantEvent('acme', BODY, signed(TENANT_SECRET)));
    expect(response.statusCode).toBe(202);
    expect(decodeEnvelope(queue.sent[0] ?? '')).toEqual({
      key: idempotencyKey(Buffer.from(BODY)),
      receivedAt: '2026-11-23T10:00:00.000Z',
      tenantId: 'acme',
      signedBy: 'tenant',
      encoding: 'utf8',
      body: BODY,
    });
  });

  it("accepts the application's secret at a tenant URL (signed by the application), the key still the body's digest", async () => {
    const { handler, queue } = setup();
    const response = await handler(tenantEvent('acme', BODY, signed(APP_SECRET)));
    expect(response.statusCode).toBe(202);
    expect(decodeEnvelope(queue.sent[0] ?? '')).toMatchObject({
      key: idempotencyKey(Buffer.from(BODY)),
      tenantId: 'acme',
      signedBy: 'application',
    });
  });

  it('accepts when one of several values (a rotation) matches the tenant', async () => {
    const { handler, queue } = setup();
    const header = `${signBody(BODY, 'CRN_retired')} , ${signBody(BODY, TENANT_SECRET)}`;
    expect((await handler(tenantEvent('acme', BODY, { 'cronofy-hmac-sha256': header }))).statusCode).toBe(
      202,
    );
    expect(queue.sent).toHaveLength(1);
  });

  it('refuses another tenant’s secret, and a tenant secret at the shared URL', async () => {
    const { handler, queue } = setup();
    expect((await handler(tenantEvent('acme', BODY, signed(OTHER_TENANT_SECRET)))).statusCode).toBe(401);
    const shared = {
      ...tenantEvent('acme', BODY, signed(TENANT_SECRET)),
      routeKey: 'POST /cronofy/notifications',
      rawPath: '/cronofy/notifications',
      pathParameters: undefined,
    } as unknown as APIGatewayProxyEventV2;
    expect((await handler(shared)).statusCode).toBe(401);
    expect(queue.sent).toEqual([]);
  });

  it('answers an unknown tenant, an offboarded one and an impossible tenant id exactly like a bad signature', async () => {
    const { handler, queue, tenants } = setup();
    const badSignature = await handler(tenantEvent('acme', BODY, signed('CRN_wrong')));
    expect(badSignature.statusCode).toBe(401);
    // Unknown, even with the application's own valid signature: nothing is kept for a tenant that does not exist.
    for (const request of [
      tenantEvent('initech', BODY, signed(APP_SECRET)),
      tenantEvent('initech', BODY, signed('CRN_wrong')),
      tenantEvent('bad id!', BODY, signed(APP_SECRET)),
      tenantEvent('x'.repeat(65), BODY, signed(APP_SECRET)),
    ]) {
      const response = await handler(request);
      expect(response).toEqual(badSignature);
    }
    tenants.tenants.delete('globex');
    expect(await handler(tenantEvent('globex', BODY, signed(OTHER_TENANT_SECRET)))).toEqual(badSignature);
    expect(queue.sent).toEqual([]);
    // An id that cannot be a tenant's is never looked up.
    expect(tenants.lookups).toEqual(['acme', 'initech', 'initech', 'globex']);
  });

  it('looks nothing up for a request that is not otherwise well-formed (too large, no signature header)', async () => {
    const { handler, tenants } = setup();
    const large = 'x'.repeat(NOTIFICATION_BODY_MAX_BYTES + 1);
    expect((await handler(tenantEvent('acme', large, signed(TENANT_SECRET, large)))).statusCode).toBe(413);
    expect((await handler(tenantEvent('acme', BODY, {}))).statusCode).toBe(401);
    expect((await handler(tenantEvent('acme', BODY, { 'cronofy-hmac-sha256': '' }))).statusCode).toBe(401);
    // No value of the header could be a signature (Base64 of 32 bytes): it fails whoever the tenant is.
    for (const header of ['x', 'not a signature, either', `${'A'.repeat(43)}`, `${'A'.repeat(44)}=`])
      expect((await handler(tenantEvent('acme', BODY, { 'cronofy-hmac-sha256': header }))).statusCode).toBe(
        401,
      );
    expect(tenants.lookups).toEqual([]);
    // The answer is the very one of a wrong signature from a registered tenant's own URL.
    const malformed = await handler(tenantEvent('acme', BODY, { 'cronofy-hmac-sha256': 'x' }));
    expect(malformed).toEqual(await handler(tenantEvent('acme', BODY, signed('CRN_wrong'))));
  });

  it('answers 503 when the directory cannot be read (Cronofy retries), and logs no secret or body', async () => {
    const { handler, tenants, queue, lines } = setup();
    tenants.down = true;
    const response = await handler(tenantEvent('acme', BODY, signed(TENANT_SECRET)));
    expect(response.statusCode).toBe(503);
    expect(queue.sent).toEqual([]);
    const logged = JSON.stringify(lines);
    expect(logged).not.toContain(TENANT_SECRET);
    expect(logged).not.toContain('srq_1');
  });

  it('logs an unknown tenant for the operator, never the signature or the body', async () => {
    const { handler, lines } = setup();
    await handler(tenantEvent('initech', BODY, signed(APP_SECRET)));
    const rejected = lines
      .map((line) => JSON.parse(line))
      .find((line) => line.message === LOG_EVENTS.notificationRejectedSignature);
    expect(rejected).toMatchObject({ level: 'warn', reason: 'unknown_tenant', tenant: 'initech' });
    expect(JSON.stringify(lines)).not.toContain(signBody(BODY, APP_SECRET));
  });

  it('without a directory (the placeholder), every tenant URL answers 401', async () => {
    const queue = new FakeQueue();
    const handler = makeHandler({
      queue,
      secrets: new StaticSecrets({
        clientSecrets: [APP_SECRET],
        embedPublicKey: 'EMB_x',
        embedSecret: 'ESK_x',
      }),
      clock: () => new Date(),
      logger: capturingLogger().logger,
    });
    expect((await handler(tenantEvent('acme', BODY, signed(APP_SECRET)))).statusCode).toBe(401);
    expect(queue.sent).toEqual([]);
  });
});

describe('envelope version 3', () => {
  it('is written only for a tenant URL: the shared URL keeps version 2, which a worker without tenants reads', () => {
    const at = new Date('2026-11-23T10:00:00.000Z');
    expect(JSON.parse(encodeEnvelope({ body: Buffer.from(BODY), receivedAt: at })).v).toBe(2);
    const tenant = JSON.parse(
      encodeEnvelope({ body: Buffer.from(BODY), receivedAt: at, tenant: { id: 'acme', signedBy: 'tenant' } }),
    );
    expect(tenant).toMatchObject({ v: 3, tenantId: 'acme', signedBy: 'tenant' });
  });

  it('refuses a version 3 message without a valid tenant or signer (the worker leaves it to the DLQ)', () => {
    const base = { v: 3, receivedAt: '2026-11-23T10:00:00.000Z', encoding: 'utf8', body: BODY };
    expect(() => decodeEnvelope(JSON.stringify({ ...base, signedBy: 'tenant' }))).toThrow(/envelope/);
    expect(() => decodeEnvelope(JSON.stringify({ ...base, tenantId: 'a#b', signedBy: 'tenant' }))).toThrow();
    expect(() => decodeEnvelope(JSON.stringify({ ...base, tenantId: 'acme', signedBy: 'anyone' }))).toThrow();
  });
});
