import type {
  AttributeValue,
  BatchExecuteStatementInput,
  BatchExecuteStatementOutput,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { itemBytes } from './item-size.ts';

/**
 * Counts what a DynamoDB client costs: round trips (every `send`, by command and table) and write units as
 * DynamoDB itself reports them. It asks for `ReturnConsumedCapacity: TOTAL` on every request, and DynamoDB
 * Local computes capacity as DynamoDB does (1 WCU per started KB of item, an update the larger of before
 * and after). A rejected conditional write reports no capacity here; in AWS it costs at least 1 WCU, so those
 * are counted separately (the workloads here have none).
 *
 * DynamoDB Local reports no capacity for `BatchExecuteStatement`; its `INSERT`s are billed as `PutItem`s of
 * the same item, so each one that succeeded is counted here by DynamoDB's size rules (`item-size.ts`).
 */

const WRITE_OPERATIONS = /^(Put|Update|Delete)Item$|^BatchWriteItem$|^BatchExecuteStatement$/;

/** Write units of the INSERTs in a BatchExecuteStatement that succeeded: 1 per started KB of each item. */
function insertWriteUnits(input: BatchExecuteStatementInput, output: BatchExecuteStatementOutput): number {
  return (input.Statements ?? []).reduce((units, statement, i) => {
    const names = [...(statement.Statement ?? '').matchAll(/'([^']+)':\s*\?/g)].map((m) => m[1] as string);
    if (!/^INSERT/i.test(statement.Statement ?? '') || output.Responses?.[i]?.Error) return units;
    const item: Record<string, AttributeValue> = {};
    names.forEach((name, j) => {
      item[name] = statement.Parameters?.[j] as AttributeValue;
    });
    return units + Math.ceil(itemBytes(item) / 1024);
  }, 0);
}

function tableOf(input: { TableName?: string; Statements?: { Statement?: string }[] }): string {
  return input.TableName ?? /INTO "([^"]+)"/.exec(input.Statements?.[0]?.Statement ?? '')?.[1] ?? '';
}

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
        const input = args.input as {
          TableName?: string;
          Statements?: { Statement?: string }[];
          ReturnConsumedCapacity?: string;
        };
        const command = context.commandName?.replace(/Command$/, '') ?? '';
        const operation = `${command} ${tableOf(input)}`.trim();
        const counts = this.counts;
        input.ReturnConsumedCapacity ??= 'TOTAL';
        counts.roundTrips++;
        const entry = counts.byOperation[operation] ?? { calls: 0, writeUnits: 0 };
        counts.byOperation[operation] = entry;
        entry.calls++;
        try {
          const result = await next(args);
          type Consumed = { CapacityUnits?: number };
          const consumed = (result.output as { ConsumedCapacity?: Consumed | Consumed[] }).ConsumedCapacity;
          let units = [consumed ?? []].flat().reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
          if (command === 'BatchExecuteStatement' && consumed === undefined)
            units = insertWriteUnits(
              args.input as BatchExecuteStatementInput,
              result.output as BatchExecuteStatementOutput,
            );
          if (WRITE_OPERATIONS.test(command)) {
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
