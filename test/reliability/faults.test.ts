import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ASPECTS } from '#shared/contract/ordering.ts';
import { keys } from '#shared/contract/records.ts';
import type { RecordStore } from '#shared/core/ports.ts';
import { decodeEnvelope } from '#shared/notifications/queue-message.ts';
import { QUEUE } from '../../infra/definitions.ts';
import type { BatchOutcome } from '../../infra/local/poller.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import type { WorkerStartOptions } from '../../infra/local/worker.ts';
import { redrive } from '../../infra/ops/operations.ts';
import {
  buildScenario,
  type DeliveryResult,
  deliver,
  getItems,
  type RunCheck,
  recordFigures,
  runFigures,
  type SimNotification,
  type SimulateOptions,
  type SimulateResult,
  seededRandom,
  simulate,
  verifyRun,
} from '../sim/index.ts';
import { assertExactlyOnce } from '../support/exactly-once.ts';
import { drained, queueDepth } from '../support/local-mode.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

/**
 * Faults injected into the whole local stack (`startLocalStack` and its `faults` hooks), each ending in zero
 * loss and zero double effects, checked on the table and on its stream:
 * the SQS emulator unreachable, DynamoDB Local stopped and restarted, a poison message through the DLQ and
 * back, the worker process killed mid-batch. The simulator delivers like Cronofy (retries with backoff,
 * duplicates), scaled down in time. RELIABILITY_HEAVY=1 multiplies the traffic.
 */

const HEAVY = process.env.RELIABILITY_HEAVY === '1';
const SCALE = HEAVY ? 4 : 1;
/**
 * The queue's visibility timeout as the poller asks for it: longer than any batch takes on a busy 2-core
 * machine (a shorter one redelivers messages still being processed and walks healthy ones to the DLQ).
 */
const VISIBILITY_SECONDS = 10;

let stack: LocalStack;
let dbPath: string;
/** The network path to the SQS emulator, for the functions and the worker: cut it and SQS is unreachable. */
let sqsPath: TcpProxy;
/** Outcomes of the in-process worker's batches since start. */
const batches: BatchOutcome[] = [];
/** Notifications with these idempotency keys hit a bug in the worker (forced by the test). */
const poisonedKeys = new Set<string>();

function buggy(store: RecordStore): RecordStore {
  return {
    async applyState(write) {
      if (poisonedKeys.has(write.key))
        throw new TypeError("Cannot read properties of undefined (reading 'tzid')");
      return store.applyState(write);
    },
    putEventTrigger: (pk, record) => store.putEventTrigger(pk, record),
    putNotifications: (records) => store.putNotifications(records),
    notificationStatuses: (ids) => store.notificationStatuses(ids),
  };
}

beforeAll(async () => {
  dbPath = mkdtempSync(join(tmpdir(), 'reliability-ddb-'));
  stack = await startLocalStack({
    quiet: true,
    visibilityTimeoutSeconds: VISIBILITY_SECONDS,
    workerConcurrency: 2,
    faults: {
      dynamoDbPath: dbPath,
      sqsPath: async (emulator) => {
        sqsPath = await new TcpProxy(Number(new URL(emulator).port)).start();
        return sqsPath;
      },
      wrapWorkerStore: buggy,
      workerWaitTimeSeconds: 1,
      onBatch: (outcome) => batches.push(outcome),
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  if (dbPath) rmSync(dbPath, { recursive: true, force: true });
});

/** Cronofy's delivery with its schedule scaled down: 10 consecutive failures span about 20 s. */
function cronofy() {
  return {
    url: `${stack.url}/cronofy/notifications`,
    secrets: ['CRN_local_development_secret_not_for_production'],
    concurrency: 8,
    rate: 40,
    duplicateRatio: 0.2,
    duplicateDelayMs: 500,
    timeoutMs: 5000,
    backoff: { initialMs: 250, factor: 2, maxMs: 4000, jitter: 0.2 },
  };
}

function send(options: Partial<SimulateOptions> & Pick<SimulateOptions, 'count'>): Promise<SimulateResult> {
  return simulate({ scenario: 'mixed', ...cronofy(), ...options });
}

async function item(pk: string) {
  return (await getItems(stack.clients.dynamodb, stack.tableName, [pk])).get(pk);
}

async function check(result: DeliveryResult): Promise<RunCheck> {
  return verifyRun(result.records, {
    client: stack.clients.dynamodb,
    tableName: stack.tableName,
    timeoutMs: 60_000,
    streamEndpoint: stack.endpoints.dynamodb,
  });
}

/** Every accepted notification: one notification record, one state effect (or stale), on table and stream. */
function expectExactlyOnce(
  result: DeliveryResult,
  outcome: RunCheck,
  fault: string,
  extra: Record<string, unknown> = {},
) {
  recordFigures(`fault: ${fault}`, { ...runFigures(result.summary, outcome), ...extra });
  assertExactlyOnce(result, outcome);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Wait until the worker has drained the queue (nothing visible, nothing in flight); nothing may be in the DLQ. */
async function settled(timeoutMs = 90_000) {
  const depth = await drained(stack, timeoutMs);
  expect(depth.dlq, 'messages in the DLQ').toBe(0);
  return depth;
}

/** Restart the in-process worker with other settings. */
async function restartWorker(options: WorkerStartOptions = {}) {
  await stack.worker.stop();
  stack.worker.start(options);
}

/** Notifications whose state change is on the table but whose notification record is not (yet). */
async function appliedButNotRecorded(result: DeliveryResult): Promise<number> {
  const notifications = result.records.map((r) => r.notification);
  const states = await getItems(
    stack.clients.dynamodb,
    stack.tableName,
    notifications.flatMap((n) => (n.expect.effect === 'state' ? [n.expect.pk] : [])),
  );
  // Keys applied at each aspect's current time (state model v2): enough to see the crash window.
  const applied = [
    ...new Set(
      [...states.values()].flatMap((item) =>
        Object.values(ASPECTS).flatMap(({ applied }) => (item[applied] as string[] | undefined) ?? []),
      ),
    ),
  ];
  const recorded = await getItems(
    stack.clients.dynamodb,
    stack.tableName,
    applied.map((key) => keys.notification(key)),
  );
  return applied.filter((key) => !recorded.has(keys.notification(key))).length;
}

describe('faults end in zero loss and zero double effects', { timeout: 180_000 }, () => {
  it('the SQS emulator unreachable while notifications arrive: 503, Cronofy retries, everything lands', async () => {
    const run = send({ count: 80 * SCALE });
    await sleep(800);
    sqsPath.down();
    await sleep(3000);
    sqsPath.restore();
    const result = await run;

    // The fault was real: ingest answered 503 and the simulator had to retry.
    expect(result.summary.byStatus['503'] ?? 0).toBeGreaterThan(0);
    expect(result.summary.retried).toBeGreaterThan(0);
    await settled();
    expectExactlyOnce(
      result,
      await check(result),
      'SQS emulator unreachable for 3 s while notifications arrive',
      {
        outage503s: result.summary.byStatus['503'],
      },
    );
  });

  it('DynamoDB Local stopped mid-run and restarted: messages return to the queue and apply once', async () => {
    // Every failed receive counts towards the DLQ: in AWS 8 receives × 180 s ride out a 24-minute outage;
    // here 8 × 10 s (VISIBILITY_SECONDS), above a restart of DynamoDB Local on a loaded machine (seen: over 40 s).
    const failedBefore = batches.filter((b) => b.failed.length > 0).length;
    const run = send({ count: 80 * SCALE });
    await sleep(1000);
    const down = Date.now();
    await stack.dynamoDbLocal.stop();
    await sleep(2000);
    await stack.dynamoDbLocal.start();
    const outageMs = Date.now() - down;
    const result = await run;

    await settled();
    const failedBatches = batches.filter((b) => b.failed.length > 0).length - failedBefore;
    expect(failedBatches).toBeGreaterThan(0);
    expectExactlyOnce(result, await check(result), 'DynamoDB Local stopped mid-run and restarted', {
      outageMs,
      failedBatches,
    });
  });

  it('a poison message goes to the DLQ after the configured receives; redriven after the fix, it applies once', async () => {
    const random = seededRandom(7);
    const chains = buildScenario('lifecycle', 30, {
      random,
      runId: randomBytes(4).toString('hex'),
      now: new Date(),
    });
    // The newest notification of the first request hits a bug in the worker (so once fixed, it is not stale).
    const poison = chains[0]?.steps.at(-1) as SimNotification;
    poisonedKeys.add(poison.key);
    // A failed message is released at once, so the configured receives pass in seconds.
    await restartWorker({ releaseFailuresAtOnce: true });
    onTestFinished(() => restartWorker());

    const result = await deliver(chains, { ...cronofy(), duplicateRatio: 0, random });
    expect(result.summary.accepted).toBe(30);

    const deadline = Date.now() + 60_000;
    while ((await queueDepth(stack)).dlq === 0 && Date.now() < deadline) await sleep(500);
    const parked = await stack.clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: stack.dlqUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    expect(parked.Messages).toHaveLength(1);
    // The message carries the body; its key is the body's digest (the envelope carries no other).
    expect(decodeEnvelope(parked.Messages?.[0]?.Body ?? '{}').key).toBe(poison.key);
    expect(Number(parked.Messages?.[0]?.Attributes?.ApproximateReceiveCount)).toBeGreaterThanOrEqual(
      QUEUE.maxReceiveCount,
    );
    // Meanwhile everything else applied; the poison left no trace on the table.
    const others = result.records.filter((r) => r.notification.key !== poison.key);
    const before = await verifyRun(others, {
      client: stack.clients.dynamodb,
      tableName: stack.tableName,
      timeoutMs: 30_000,
    });
    expect(before.table).toMatchObject({ checked: 29, lost: 0, doubleApplied: 0, regressed: 0, wrong: 0 });
    expect(await item(keys.notification(poison.key))).toBeUndefined();

    // The fix ships; the operator redrives the DLQ (npm run ops -- redrive, local form).
    poisonedKeys.clear();
    const moved = await redrive({
      ddb: stack.clients.dynamodb,
      sqs: stack.clients.sqs,
      tableName: stack.tableName,
      queueUrl: stack.queueUrl,
      dlqUrl: stack.dlqUrl,
      local: true,
    });
    expect(moved.moved).toBe(1);
    await settled();

    expectExactlyOnce(result, await check(result), 'poison message to the DLQ, redriven after the fix', {
      receivesBeforeDlq: Number(parked.Messages?.[0]?.Attributes?.ApproximateReceiveCount),
    });
    expect(await item(keys.notification(poison.key))).toMatchObject({ status: 'applied' });
  });

  it('the worker process killed mid-batch: redelivery applies each notification once', async () => {
    await stack.worker.stop();
    const result = await send({ count: 120 * SCALE, duplicateRatio: 0.3, rate: 0 });
    expect(result.summary.accepted).toBe(result.summary.notifications);

    // The same worker code in its own process, each store call delayed 40 ms so a batch takes a while.
    // It finishes two batches, is handed a third, and is killed 70 ms into it: after the state writes of
    // that batch (40 ms + a write), before its notification records (another 40 ms) — the crash window.
    const worker = await stack.spawnWorker({ stepDelayMs: 40 });
    await worker.reached('batch', 2, 30_000);
    await worker.reached('start', worker.started + 1, 30_000);
    await sleep(70);
    await worker.kill();
    const halfDone = await appliedButNotRecorded(result);
    // Killed inside batches: messages it had received and not deleted are in flight, not lost.
    const depth = await queueDepth(stack);
    expect(depth.inFlight).toBeGreaterThan(0);

    stack.worker.start();
    await settled();
    expectExactlyOnce(result, await check(result), 'worker process killed with SIGKILL mid-batch', {
      inFlightAtKill: depth.inFlight,
      appliedButNotRecordedAtKill: halfDone,
      batchesBeforeKill: worker.batches,
    });
  });
});
