import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { withContractBody } from '#shared/contract/body-codec.ts';
import { keys, PARTITION_KEY } from '#shared/contract/keys.ts';
import {
  createQueues,
  createTable,
  dynamoClient,
  freePort,
  type LocalQueues,
  type RunningService,
  sqsClient,
  startDynamoDb,
  startSqs,
} from '../../infra/local/services.ts';

/** Real DynamoDB Local and the SQS emulator on free loopback ports, with the stack's table and queues. */
export interface LocalAws {
  dynamo: RunningService;
  sqs: RunningService;
  ddb: DynamoDBClient;
  sqsClient: SQSClient;
  tableName: string;
  streamArn: string;
  queues: LocalQueues;
  stop(): Promise<void>;
}

export async function startLocalAws(tableName = `records-${process.pid}`): Promise<LocalAws> {
  const [dynamo, sqs] = await Promise.all([
    freePort().then((p) => startDynamoDb(p)),
    freePort().then(startSqs),
  ]);
  const ddb = dynamoClient(dynamo.endpoint);
  const sqsc = sqsClient(sqs.endpoint);
  const { streamArn } = await createTable(ddb, tableName);
  const queues = await createQueues(sqsc);
  return {
    dynamo,
    sqs,
    ddb,
    sqsClient: sqsc,
    tableName,
    streamArn,
    queues,
    async stop() {
      ddb.destroy();
      sqsc.destroy();
      await Promise.all([dynamo.stop(), sqs.stop()]);
    },
  };
}

/** The item with partition key `pk` as it is now (strongly consistent), or undefined. */
export async function readItem(
  aws: Pick<LocalAws, 'ddb' | 'tableName'>,
  pk: string,
): Promise<Record<string, unknown> | undefined> {
  const result = await aws.ddb.send(
    new GetItemCommand({
      TableName: aws.tableName,
      Key: { [PARTITION_KEY]: { S: pk } },
      ConsistentRead: true,
    }),
  );
  // A notification's body as the records contract has it (decompressed), like parseStreamImage gives it.
  return result.Item ? withContractBody(unmarshall(result.Item)) : undefined;
}

/** A scheduling request's record as it is now (strongly consistent), or undefined. */
export function readSchedulingRecord(
  aws: Pick<LocalAws, 'ddb' | 'tableName'>,
  id: string,
): Promise<Record<string, unknown> | undefined> {
  return readItem(aws, keys.schedulingRequest(id));
}
