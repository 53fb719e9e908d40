import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Counts what a DynamoDB client costs: round trips (every `send`, by command and table) and write units as
 * DynamoDB itself reports them. It asks for `ReturnConsumedCapacity: TOTAL` on every request, and DynamoDB
 * Local computes capacity as DynamoDB does (1 WCU per started KB of item, an update the larger of before
 * and after). A rejected conditional write reports no capacity here; in AWS it costs at least 1 WCU, so those
 * are counted separately (the workloads here have none).
 */

export interface MeterCounts {
  roundTrips: number;
  writeUnits: number;
  readUnits: number;
  conditionFailures: number;
  errors: number;
  /** `PutItem cronofy-records` → count and write units. */
  byOperation: Record<string, { calls: number; writeUnits: number }>;
}

export class DynamoMeter {
  counts: MeterCounts = DynamoMeter.empty();

  static empty(): MeterCounts {
    return { roundTrips: 0, writeUnits: 0, readUnits: 0, conditionFailures: 0, errors: 0, byOperation: {} };
  }

  reset(): MeterCounts {
    const previous = this.counts;
    this.counts = DynamoMeter.empty();
    return previous;
  }

  attach(client: DynamoDBClient): DynamoDBClient {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { TableName?: string; ReturnConsumedCapacity?: string };
        const operation = `${context.commandName?.replace(/Command$/, '')} ${input.TableName ?? ''}`.trim();
        const counts = this.counts;
        input.ReturnConsumedCapacity ??= 'TOTAL';
        counts.roundTrips++;
        const entry = counts.byOperation[operation] ?? { calls: 0, writeUnits: 0 };
        counts.byOperation[operation] = entry;
        entry.calls++;
        try {
          const result = await next(args);
          const consumed = (result.output as { ConsumedCapacity?: { CapacityUnits?: number } })
            .ConsumedCapacity;
          const units = consumed?.CapacityUnits ?? 0;
          if (/^(Put|Update|Delete)Item$/.test(context.commandName?.replace(/Command$/, '') ?? '')) {
            counts.writeUnits += units;
            entry.writeUnits += units;
          } else {
            counts.readUnits += units;
          }
          return result;
        } catch (error) {
          if ((error as Error).name === 'ConditionalCheckFailedException') counts.conditionFailures++;
          else counts.errors++;
          throw error;
        }
      },
      { step: 'initialize', name: 'benchDynamoMeter' },
    );
    return client;
  }
}
