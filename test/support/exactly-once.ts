import { expect } from 'vitest';
import type { LocalStack } from '../../infra/local/stack.ts';
import { type DeliveryResult, type RunCheck, recordFigures, runFigures, verifyRun } from '../sim/index.ts';

/**
 * A simulator run against a local stack, checked on the table and on its stream: every notification accepted,
 * none lost, none applied twice, no aspect of a record back in time, nothing kept wrongly. The figures go to
 * the reliability report under `name`.
 */
export async function expectExactlyOnce(
  name: string,
  result: DeliveryResult,
  stack: Pick<LocalStack, 'clients' | 'tableName' | 'endpoints'>,
  timeoutMs = 60_000,
): Promise<RunCheck> {
  const check = await verifyRun(result.records, {
    client: stack.clients.dynamodb,
    tableName: stack.tableName,
    timeoutMs,
    streamEndpoint: stack.endpoints.dynamodb,
  });
  recordFigures(name, runFigures(result.summary, check));
  assertExactlyOnce(result, check);
  return check;
}

/** The assertions of `expectExactlyOnce`, for a run checked elsewhere (e.g. against a pipeline with faults). */
export function assertExactlyOnce(result: DeliveryResult, check: RunCheck): void {
  expect(result.summary).toMatchObject({ gaveUp: 0, aborted: 0, accepted: result.summary.notifications });
  expect(check.table.findings).toEqual([]);
  expect(check.table).toMatchObject({
    checked: result.summary.notifications,
    lost: 0,
    doubleApplied: 0,
    regressed: 0,
    wrong: 0,
  });
  expect(check.table.applied + check.table.stale + check.table.keptOnly).toBe(result.summary.notifications);
  expect(check.stream?.findings).toEqual([]);
  expect(check.stream).toMatchObject({ missing: 0, doubleApplied: 0, regressed: 0 });
}
