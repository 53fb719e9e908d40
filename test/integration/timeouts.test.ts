import { createServer, type Server, type Socket } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRecordStore, WORKER_DYNAMODB_CLIENT_CONFIG } from '#shared/aws/dynamo-store.ts';
import {
  INGEST_SQS_CLIENT_CONFIG,
  QueueUnavailableError,
  SqsNotificationQueue,
} from '#shared/aws/sqs-queue.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../infra/local/services.ts';

/** A server that accepts connections and never answers: the worst kind of outage for a client. */
let blackHole: Server;
let endpoint = '';
const sockets = new Set<Socket>();

beforeAll(async () => {
  blackHole = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  const address = blackHole.address();
  endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => blackHole.close(resolve));
});

const local = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };

describe('clients give up on a service that never answers', () => {
  it('ingest fails over to 503 well inside the time Cronofy waits', async () => {
    const queue = new SqsNotificationQueue(
      new SQSClient({ ...INGEST_SQS_CLIENT_CONFIG, ...local, endpoint }),
      `${endpoint}/000000000000/q`,
    );
    const started = Date.now();
    await expect(queue.send('{}')).rejects.toThrow(QueueUnavailableError);
    expect(Date.now() - started).toBeLessThan(7_000);
  });

  it('the worker gives up on DynamoDB long before its 30 s timeout', async () => {
    const store = new DynamoRecordStore(
      new DynamoDBClient({ ...WORKER_DYNAMODB_CLIENT_CONFIG, ...local, endpoint, maxAttempts: 1 }),
      'records',
    );
    const started = Date.now();
    await expect(
      store.applyState({
        pk: 'scheduling_request#x',
        key: 'sha256:n1',
        at: '2026-11-23T10:00:00.000Z',
        common: { entity: 'scheduling_request' },
        aspects: [{ aspect: 'lifecycle', set: {} }],
      }),
    ).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
