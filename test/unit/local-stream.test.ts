import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '#shared/core/logger.ts';
import { StreamTail } from '../../infra/local/stream.ts';

/** Local mode's stream tail reads a record's changes in their order, across a shard that closes and its child. */

const change = (revision: number) => ({
  eventName: 'MODIFY',
  dynamodb: {
    SequenceNumber: String(revision),
    Keys: marshall({ pk: 'scheduling_request#sr_1' }),
    NewImage: marshall({
      entity: 'scheduling_request',
      scheduling_request_id: 'sr_1',
      status: 'time_chosen',
      updated_at: '2026-01-01T00:00:00.000Z',
      revision,
    }),
  },
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('StreamTail', () => {
  it("reads a parent shard to its end before its child: a record's later change never comes first", async () => {
    // The parent shard still holds two pages when its child opens (a shard rollover under writes).
    const pages: Record<string, { Records: unknown[]; NextShardIterator?: string }> = {
      'parent-1': { Records: [change(1)], NextShardIterator: 'parent-2' },
      'parent-2': { Records: [change(2)] },
      'child-1': { Records: [change(3)], NextShardIterator: 'child-2' },
      'child-2': { Records: [], NextShardIterator: 'child-2' },
    };
    vi.spyOn(DynamoDBStreamsClient.prototype, 'send').mockImplementation(async (command: unknown) => {
      if (command instanceof DescribeStreamCommand)
        return {
          StreamDescription: {
            Shards: [{ ShardId: 'child', ParentShardId: 'parent' }, { ShardId: 'parent' }],
          },
        };
      if (command instanceof GetShardIteratorCommand) return { ShardIterator: `${command.input.ShardId}-1` };
      if (command instanceof GetRecordsCommand) return pages[command.input.ShardIterator ?? ''] ?? {};
      throw new Error('unexpected command');
    });
    const tail = StreamTail.start({
      endpoint: 'http://127.0.0.1:1',
      streamArn: 'arn:aws:dynamodb:local:000000000000:table/t/stream/x',
      logger: silentLogger,
      idleMs: 1,
    });
    try {
      await tail.waitFor((c) => c.newImage?.revision === 3);
      await tail.waitFor((c) => c.newImage?.revision === 2);
      expect(tail.changes().map((c) => c.newImage?.revision)).toEqual([1, 2, 3]);
    } finally {
      await tail.stop();
    }
  });
});
