import { createServer, type Socket } from 'node:net';
import { DynamoDBClient, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRedirectStore, REDIRECT_CLIENT_CONFIG } from '#shared/aws/redirect-store.ts';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { keys } from '#shared/contract/keys.ts';
import { parseStreamImage } from '#shared/contract/records.ts';
import type { Logger } from '#shared/core/ports.ts';
import { makeHandler } from '../../functions/redirects/handler.ts';
import { dynamoClient, LOCAL_CREDENTIALS, LOCAL_REGION } from '../../infra/local/services.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';
import { readStream, recordsFor } from '../support/stream-reader.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

/**
 * The `redirect` record with the real AWS SDK against DynamoDB Local: what lands on the table and on its
 * stream is what downstream systems read, and a DynamoDB outage never strands a recipient.
 */

let aws: LocalAws;
let proxy: TcpProxy;
let counter = 0;
const uniqueId = () => `srq_${process.pid}_${++counter}`;

beforeAll(async () => {
  aws = await startLocalAws(`redirects-${process.pid}`);
  proxy = await new TcpProxy(aws.dynamo.port).start();
});

afterAll(async () => {
  await proxy?.stop();
  await aws?.stop();
});

function redirectEvent(step: string, rawQueryString: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'GET /redirects/{step}',
    rawPath: `/redirects/${step}`,
    rawQueryString,
    headers: {},
    pathParameters: { step },
    requestContext: { http: { method: 'GET', path: `/redirects/${step}` } },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

describe('DynamoRedirectStore', () => {
  it('writes one item with plain string attributes under redirect#<uuid>', async () => {
    const id = '6f1c2b9e-4f7a-4c1e-9d2b-0a1b2c3d4e5f';
    const store = new DynamoRedirectStore(aws.ddb, aws.tableName, () => id);
    const srid = uniqueId();

    await store.putRedirect({
      entity: 'redirect',
      step: 'time_chosen',
      scheduling_request_id: srid,
      correlation_id: 'CAND-66',
      utm_campaign: 'spring',
      at: '2026-11-23T10:00:00.000Z',
    });

    const item = await aws.ddb.send(
      new GetItemCommand({
        TableName: aws.tableName,
        Key: { pk: { S: keys.redirect(id) } },
        ConsistentRead: true,
      }),
    );
    expect(item.Item).toEqual({
      pk: { S: `redirect#${id}` },
      entity: { S: 'redirect' },
      step: { S: 'time_chosen' },
      scheduling_request_id: { S: srid },
      correlation_id: { S: 'CAND-66' },
      utm_campaign: { S: 'spring' },
      at: { S: '2026-11-23T10:00:00.000Z' },
    });
  });

  it('puts every redirect on the stream as a parseable `redirect` record', async () => {
    const store = new DynamoRedirectStore(aws.ddb, aws.tableName);
    const srid = uniqueId();
    await store.putRedirect({
      entity: 'redirect',
      step: 'declined',
      scheduling_request_id: srid,
      at: '2026-11-23T11:00:00Z',
    });
    await store.putRedirect({
      entity: 'redirect',
      step: 'declined',
      scheduling_request_id: srid,
      at: '2026-11-23T11:00:01Z',
    });

    const stream = await readStream(aws.dynamo.endpoint, aws.streamArn);
    const ours = stream
      .filter((r) => r.dynamodb?.NewImage?.scheduling_request_id?.S === srid)
      .map((r) => ({ event: r.eventName, record: parseStreamImage(r.dynamodb?.NewImage ?? {}) }));
    // Two visits, two items: each redirect is its own event for downstream, never an overwrite.
    expect(ours).toEqual([
      {
        event: 'INSERT',
        record: {
          entity: 'redirect',
          step: 'declined',
          scheduling_request_id: srid,
          at: '2026-11-23T11:00:00Z',
        },
      },
      {
        event: 'INSERT',
        record: {
          entity: 'redirect',
          step: 'declined',
          scheduling_request_id: srid,
          at: '2026-11-23T11:00:01Z',
        },
      },
    ]);
    const pks = stream
      .filter((r) => r.dynamodb?.NewImage?.scheduling_request_id?.S === srid)
      .map((r) => r.dynamodb?.Keys?.pk?.S);
    expect(new Set(pks).size).toBe(2);
    for (const pk of pks) expect(recordsFor(stream, pk ?? '')).toHaveLength(1);
  });
});

describe('redirects handler with the real store', () => {
  const config = {
    dataCenter: 'us' as const,
    redirects: { time_chosen: 'https://ats.example.com/interviews/time-chosen' },
    publicLinks: {},
  };
  const secrets = new StaticSecrets({
    clientSecrets: ['CRN_x'],
    embedPublicKey: 'EMB_x',
    embedSecret: 'ESK_x',
  });

  it('records the redirect before answering 302', async () => {
    const handler = makeHandler({
      config,
      secrets,
      store: new DynamoRedirectStore(aws.ddb, aws.tableName),
      clock: () => new Date('2026-11-23T12:00:00.000Z'),
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    const srid = uniqueId();
    const result = (await handler(
      redirectEvent(
        'time_chosen',
        `scheduling_request_id=${srid}&correlation_id=CAND-66&utm_source=${'x'.repeat(129)}`,
      ),
    )) as APIGatewayProxyStructuredResultV2 & { headers: Record<string, string> };

    expect(result.statusCode).toBe(302);
    expect(result.headers.location).toBe(
      `https://ats.example.com/interviews/time-chosen?scheduling_request_id=${srid}&correlation_id=CAND-66`,
    );
    // Already on the table when the browser gets its answer.
    const scan = await aws.ddb.send(
      new ScanCommand({
        TableName: aws.tableName,
        FilterExpression: 'scheduling_request_id = :id',
        ExpressionAttributeValues: { ':id': { S: srid } },
        ConsistentRead: true,
      }),
    );
    expect(scan.Items?.map((item) => parseStreamImage(item))).toEqual([
      {
        entity: 'redirect',
        step: 'time_chosen',
        scheduling_request_id: srid,
        correlation_id: 'CAND-66',
        at: '2026-11-23T12:00:00.000Z',
      },
    ]);
  });

  it('still redirects, within a second or two, when DynamoDB cannot be reached', async () => {
    const errors: Array<Record<string, unknown>> = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn() {},
      error: (message, fields) => errors.push({ message, ...fields }),
    };
    const client = dynamoClient(proxy.endpoint);
    const handler = makeHandler({
      config,
      secrets,
      store: new DynamoRedirectStore(client, aws.tableName),
      clock: () => new Date(),
      logger,
    });
    proxy.down();
    try {
      const started = Date.now();
      const result = (await handler(
        redirectEvent('time_chosen', 'scheduling_request_id=srq_outage'),
      )) as APIGatewayProxyStructuredResultV2 & { headers: Record<string, string> };
      expect(result.statusCode).toBe(302);
      expect(result.headers.location).toBe(
        'https://ats.example.com/interviews/time-chosen?scheduling_request_id=srq_outage',
      );
      expect(Date.now() - started).toBeLessThan(5000);
      expect(errors).toEqual([
        expect.objectContaining({
          message: 'redirect record not written',
          step: 'time_chosen',
          schedulingRequestId: 'srq_outage',
        }),
      ]);
    } finally {
      proxy.restore();
      client.destroy();
    }
  });

  it('gives up on a DynamoDB that accepts connections but never answers, and redirects in about 2 s', async () => {
    // A black hole: the failure a recipient would otherwise wait out for the SDK's default timeouts.
    const sockets = new Set<Socket>();
    const blackHole = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const address = blackHole.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const client = new DynamoDBClient({
      ...REDIRECT_CLIENT_CONFIG,
      endpoint: `http://127.0.0.1:${port}`,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    const errors: string[] = [];
    const handler = makeHandler({
      config,
      secrets,
      store: new DynamoRedirectStore(client, aws.tableName),
      clock: () => new Date(),
      logger: { debug() {}, info() {}, warn() {}, error: (message) => errors.push(message) },
    });
    try {
      const started = Date.now();
      const result = (await handler(
        redirectEvent('time_chosen', 'correlation_id=CAND-1'),
      )) as APIGatewayProxyStructuredResultV2 & { headers: Record<string, string> };
      const elapsed = Date.now() - started;

      expect(result.statusCode).toBe(302);
      expect(result.headers.location).toBe(
        'https://ats.example.com/interviews/time-chosen?correlation_id=CAND-1',
      );
      expect(errors).toEqual(['redirect record not written']);
      expect(elapsed).toBeGreaterThanOrEqual(1000);
      expect(elapsed).toBeLessThan(3500);
    } finally {
      client.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => blackHole.close(() => resolve()));
    }
  });
});
