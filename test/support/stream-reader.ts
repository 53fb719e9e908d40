import {
  type _Record,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { PARTITION_KEY } from '#shared/contract/keys.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../infra/local/services.ts';

/** Every record on a DynamoDB Local stream so far, from the start of each shard. */
export async function readStream(endpoint: string, streamArn: string): Promise<_Record[]> {
  const client = new DynamoDBStreamsClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  try {
    const description = await client.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    const records: _Record[] = [];
    for (const shard of description.StreamDescription?.Shards ?? []) {
      let iterator = (
        await client.send(
          new GetShardIteratorCommand({
            StreamArn: streamArn,
            ShardId: shard.ShardId,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        )
      ).ShardIterator;
      // An open shard always returns an iterator; stop once a read returns nothing new.
      while (iterator) {
        const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator }));
        records.push(...(page.Records ?? []));
        if (!page.Records?.length) break;
        iterator = page.NextShardIterator;
      }
    }
    return records;
  } finally {
    client.destroy();
  }
}

/** Stream records of one item, by partition key. */
export function recordsFor(records: _Record[], pk: string): _Record[] {
  return records.filter((record) => record.dynamodb?.Keys?.[PARTITION_KEY]?.S === pk);
}
