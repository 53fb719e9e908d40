import { appendFileSync, mkdirSync } from 'node:fs';
import type { DeliverySummary } from './delivery.ts';
import type { RunCheck } from './verify.ts';

/**
 * The reliability suite's figures (notifications sent, duplicates, faults injected, lost, double-applied, regressed),
 * written when RELIABILITY_REPORT=1 as one JSON line per test to .test-results/reliability.jsonl and printed,
 * so the figures in test/reliability/README.md can be reproduced with one command. Silent otherwise.
 */
export function recordFigures(test: string, figures: Record<string, unknown>): void {
  if (process.env.RELIABILITY_REPORT !== '1') return;
  const line = JSON.stringify({ test, at: new Date().toISOString(), ...figures });
  mkdirSync('.test-results', { recursive: true });
  appendFileSync('.test-results/reliability.jsonl', `${line}\n`);
  console.log(`reliability figures: ${line}`);
}

/** The figures of one simulator run and its check, in the shape the report uses. */
export function runFigures(summary: DeliverySummary, check: RunCheck): Record<string, unknown> {
  return {
    notifications: summary.notifications,
    requests: summary.requests,
    duplicates: summary.duplicatesSent,
    retries: summary.retried,
    answers: summary.byStatus,
    givenUp: summary.gaveUp,
    appliedOnce: check.table.applied,
    stale: check.table.stale,
    keptUnapplied: check.table.keptOnly,
    lost: check.table.lost,
    doubleApplied: check.table.doubleApplied + (check.stream?.doubleApplied ?? 0),
    regressed: check.table.regressed + (check.stream?.regressed ?? 0),
    wrong: check.table.wrong,
    streamMissing: check.stream?.missing,
    latencyMs: summary.latencyMs,
    elapsedMs: summary.elapsedMs,
  };
}
