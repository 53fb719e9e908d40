import { createHash, randomBytes } from 'node:crypto';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, parseStreamImage } from '#shared/contract/records.ts';
import type { TenantDirectory } from '#shared/core/ports.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import { schedulingRequestBody } from '../support/cronofy-payloads.ts';

/**
 * `POST /cronofy/notifications/{tenant_id}` end to end in local mode, over real HTTP, with a directory of two
 * tenants injected into the stack (the tenant registry's place): the gateway routes it, ingest verifies with the
 * tenant's secret, the worker keeps the tenant on the records and refuses one tenant's notification for
 * another's record.
 */

const APP_SECRET = 'CRN_e2e_tenants_application';
const ACME_SECRET = 'CRN_e2e_tenants_acme';
const GLOBEX_SECRET = 'CRN_e2e_tenants_globex';

const directory: TenantDirectory = {
  clientSecrets: async (tenantId) =>
    ({ acme: [ACME_SECRET], globex: [GLOBEX_SECRET] })[tenantId] as readonly string[] | undefined,
};

let stack: LocalStack;
const printed: string[] = [];

beforeAll(async () => {
  stack = await startLocalStack({
    tableName: `e2e-tenants-${process.pid}`,
    visibilityTimeoutSeconds: 5,
    print: (line) => printed.push(line),
    tenants: directory,
    env: {
      CRONOFY_CLIENT_SECRETS: APP_SECRET,
      CRONOFY_EMBED_PUBLIC_KEY: 'EMB_e2e_tenants',
      CRONOFY_EMBED_SECRET: 'ESK_e2e_tenants',
    },
  });
});
afterAll(async () => stack?.stop());

const sha256Key = (body: string) => `sha256:${createHash('sha256').update(body).digest('hex')}`;
const newRequestId = () => `srq_${randomBytes(12).toString('hex')}`;

function post(path: string, body: string, secret: string) {
  return fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cronofy-hmac-sha256': signBody(body, secret) },
    body,
  });
}

async function getItem(pk: string): Promise<Record<string, unknown> | undefined> {
  const result = await stack.clients.dynamodb.send(
    new GetItemCommand({ TableName: stack.tableName, Key: { pk: { S: pk } }, ConsistentRead: true }),
  );
  return result.Item ? unmarshall(result.Item) : undefined;
}

describe('the tenant notification URL in local mode', () => {
  it("accepts the tenant's own secret; the records carry the tenant, and the console shows it", async () => {
    const id = newRequestId();
    const body = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: id,
      triggeredAt: '2026-11-23T10:15:30Z',
    });
    const response = await post('/cronofy/notifications/acme', body, ACME_SECRET);
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ status: 'accepted' });

    const change = await stack.stream.waitFor((c) => c.pk === keys.schedulingRequest(id));
    expect(parseStreamImage(change.record.dynamodb?.NewImage ?? {})).toMatchObject({
      status: 'time_chosen',
      tenant_id: 'acme',
    });
    const notification = await stack.stream.waitFor(
      (c) => c.pk === keys.notification(sha256Key(body), 'acme'),
    );
    expect(parseStreamImage(notification.record.dynamodb?.NewImage ?? {})).toMatchObject({
      entity: 'notification',
      notification_id: sha256Key(body),
      status: 'applied',
      tenant_id: 'acme',
      signed_by: 'tenant',
    });
    expect(printed.some((line) => line.includes(`INSERT scheduling_request ${id} tenant=acme`))).toBe(true);
  });

  it('answers an unknown tenant exactly as a bad signature, and enqueues nothing', async () => {
    const body = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: newRequestId(),
    });
    const bad = await post('/cronofy/notifications/acme', body, 'CRN_wrong');
    const unknown = await post('/cronofy/notifications/initech', body, APP_SECRET);
    const invalid = await post('/cronofy/notifications/not%20a%20tenant', body, APP_SECRET);
    const longest = await post(`/cronofy/notifications/${'a'.repeat(64)}`, body, APP_SECRET);
    const tooLong = await post(`/cronofy/notifications/${'a'.repeat(65)}`, body, APP_SECRET);
    const encoded = await post('/cronofy/notifications/%61cme', body, 'CRN_wrong');
    expect(bad.status).toBe(401);
    const answer = await bad.text();
    // Every header but the request id and the date: nothing may tell a registered tenant from none.
    const headersOf = (response: Response) =>
      [...response.headers].filter(([name]) => name !== 'apigw-requestid' && name !== 'date');
    for (const response of [unknown, invalid, longest, tooLong, encoded]) {
      expect(response.status).toBe(401);
      expect(await response.text()).toBe(answer);
      expect(headersOf(response)).toEqual(headersOf(bad));
    }
  });

  it("keeps one tenant's notification for another tenant's record as rejected, and the record unchanged", async () => {
    const id = newRequestId();
    const booked = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: id,
      triggeredAt: '2026-11-23T10:00:00Z',
    });
    expect((await post('/cronofy/notifications/acme', booked, ACME_SECRET)).status).toBe(202);
    await stack.stream.waitFor((c) => c.pk === keys.notification(sha256Key(booked), 'acme'));
    const before = await getItem(keys.schedulingRequest(id));

    const forged = schedulingRequestBody('scheduling_request_declined', {
      schedulingRequestId: id,
      triggeredAt: '2026-11-23T10:05:00Z',
    });
    // Ingest accepts it (globex's own signature is valid); the worker refuses to apply it.
    expect((await post('/cronofy/notifications/globex', forged, GLOBEX_SECRET)).status).toBe(202);
    const rejected = await stack.stream.waitFor(
      (c) => c.pk === keys.notification(sha256Key(forged), 'globex'),
    );
    expect(parseStreamImage(rejected.record.dynamodb?.NewImage ?? {})).toMatchObject({
      status: 'rejected',
      reason: 'tenant_mismatch',
      tenant_id: 'globex',
    });
    expect(await getItem(keys.schedulingRequest(id))).toEqual(before);
    expect(printed.some((line) => line.includes('notification rejected: tenant mismatch'))).toBe(true);
  });

  it('routes only one path segment as the tenant', async () => {
    const body = '{}';
    expect((await post('/cronofy/notifications/acme/extra', body, ACME_SECRET)).status).toBe(404);
  });
});
