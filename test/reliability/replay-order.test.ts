import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appliedKey } from '#shared/contract/ordering.ts';
import { keys } from '#shared/contract/records.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import {
  buildScenario,
  type Chain,
  deliver,
  getItems,
  readTableStream,
  recordFigures,
  type ScenarioName,
  type SimNotification,
  seededRandom,
} from '../sim/index.ts';
import { expectExactlyOnce } from '../support/exactly-once.ts';

/**
 * The simulator's `replay-attack` and `out-of-order` scenarios through the whole local stack over real HTTP
 * (gateway → ingest → SQS emulator → worker → DynamoDB Local → stream), checked on the table and on its
 * stream: nothing lost, nothing applied twice, no aspect of a record back in time.
 */

const HEAVY = process.env.RELIABILITY_HEAVY === '1';
const SCALE = HEAVY ? 4 : 1;

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({
    quiet: true,
    tableName: `replay-order-${process.pid}`,
    visibilityTimeoutSeconds: 5,
  });
});

afterAll(async () => {
  await stack?.stop();
});

/** Cronofy's delivery, scaled down in time, with a few at-least-once duplicates on top. */
const delivery = () => ({
  url: `${stack.url}/cronofy/notifications`,
  secrets: stack.config.secrets.clientSecrets,
  concurrency: 8,
  rate: 0,
  duplicateRatio: 0.1,
  duplicateDelayMs: 500,
  timeoutMs: 5000,
  backoff: { initialMs: 250, factor: 2, maxMs: 4000, jitter: 0.2 },
});

const chainsOf = (scenario: ScenarioName, count: number, seed: number) =>
  buildScenario(scenario, count, {
    random: seededRandom(seed),
    runId: randomBytes(4).toString('hex'),
    now: new Date(),
  });

async function run(name: string, chains: Chain[], seed: number, duplicateRatio = 0.1) {
  const result = await deliver(chains, { ...delivery(), duplicateRatio, random: seededRandom(seed) });
  const check = await expectExactlyOnce(name, result, stack);
  return { result, check };
}

/** Until the worker has processed and deleted every message. */
async function drained(timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Attributes = {} } = await stack.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    if (
      Number(Attributes.ApproximateNumberOfMessages) +
        Number(Attributes.ApproximateNumberOfMessagesNotVisible) ===
      0
    )
      return;
    if (Date.now() > deadline) throw new Error('queue did not drain');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const pkOf = (n: SimNotification) =>
  n.expect.effect === 'state' ? [n.expect.pk] : n.expect.effect === 'triggers' ? n.expect.pks : [];

const untimedState = (n: SimNotification) =>
  n.expect.effect === 'state' && !/"triggered_at"/.test(n.body.toString());

/**
 * The replay attack minus the one race the worker is known to lose (test/unit/ordering.test.ts, "KNOWN
 * BUG"): a body without triggered_at replayed before the batch that applied it has written its notification
 * record, after a newer notification of the same record. Such replays are left out while a newer one may
 * still be in flight (interleaved), and the replays at the end of those chains wait 3 s; every other replay
 * (timed bodies, Event Triggers, bodies kept unapplied, and every body again afterwards) is sent as built.
 */
function withoutKnownRace(chains: Chain[]): Chain[] {
  return chains.map((chain) => {
    const lastOriginal = chain.steps.findLastIndex((step) => !step.label.includes('/replay'));
    const steps = chain.steps.filter(
      (step, i) => i > lastOriginal || !step.label.includes('/replay') || !untimedState(step),
    );
    const firstLate = steps.findIndex(
      (step, i) =>
        i > 0 && step.label.includes('/replay') && steps.slice(i).every((s) => s.label.includes('/replay')),
    );
    const late = steps[firstLate];
    if (late && untimedState(late))
      steps[firstLate] = { ...late, delayMs: Math.max(late.delayMs ?? 0, 3000) };
    return { ...chain, steps };
  });
}

describe('the simulator against the local stack', { timeout: 180_000 }, () => {
  it('replay attack: captured bodies of every kind re-posted under fresh ids have no further effect', async () => {
    const chains = withoutKnownRace(chainsOf('replay-attack', 150 * SCALE, 4242));
    // No at-least-once duplicates on top: a duplicate of a body without triggered_at, racing a newer
    // notification, meets the same known race as an interleaved replay.
    const { result } = await run('replay attack: captured bodies re-posted under fresh ids', chains, 4242, 0);
    const sent = result.records.map((r) => r.notification);
    const replays = sent.filter((n) => n.label.includes('/replay'));
    // The attack was real: many replays, each under a header id never sent before, of every effect, of bodies
    // with and without triggered_at, some after a pause.
    expect(replays.length).toBeGreaterThan(sent.length / 3);
    expect(new Set(replays.map((n) => n.notificationId)).size).toBe(replays.length);
    expect(replays.some((n) => n.delayMs)).toBe(true);
    const timed = (n: SimNotification) => /"triggered_at"/.test(n.body.toString());
    expect(replays.some(timed) && replays.some((n) => !timed(n))).toBe(true);
    for (const effect of ['state', 'triggers', 'record'])
      expect(
        replays.some((n) => n.expect.effect === effect),
        effect,
      ).toBe(true);

    // Long after, once everything settled: every captured body once more. Not one stream record follows for
    // the run's records (state, Event Trigger, notification).
    await drained();
    const runPks = new Set(sent.flatMap((n) => [...pkOf(n), keys.notification(n.key)]));
    const ofRun = async () =>
      (await readTableStream(stack.clients.dynamodb, stack.tableName, stack.endpoints.dynamodb)).filter((r) =>
        runPks.has(String(r.dynamodb?.Keys?.pk?.S)),
      ).length;
    const before = await ofRun();
    const distinct = [...new Map(sent.map((n) => [n.key, n])).values()];
    const again = await deliver(
      [
        {
          id: 'late',
          steps: distinct.map((n, i) => ({
            ...n,
            label: `${n.label}/late`,
            notificationId: `ntf_late_${i}`,
          })),
        },
      ],
      {
        url: `${stack.url}/cronofy/notifications`,
        secrets: stack.config.secrets.clientSecrets,
        random: seededRandom(1),
      },
    );
    expect(again.summary.accepted).toBe(distinct.length);
    await drained();
    await new Promise((resolve) => setTimeout(resolve, 500)); // the stream reader reads what is there
    expect(await ofRun()).toBe(before);
    recordFigures('replay attack: every body once more after the run', {
      bodies: distinct.length,
      replayed: again.summary.accepted,
      newStreamRecords: (await ofRun()) - before,
    });
  });

  it('out-of-order retries: late reschedules, equal-second ties and duplicates after newer notifications', async () => {
    const { result, check } = await run(
      'out-of-order: late retries, ties, duplicates after newer',
      chainsOf('out-of-order', 150 * SCALE, 1200),
      1200,
    );
    const sent = result.records.map((r) => r.notification);
    expect(sent.some((n) => n.label.includes('/retry'))).toBe(true);
    expect(check.table.stale).toBeGreaterThan(0);
    // Each record ends with every notification of its last second applied, in whichever order they came.
    const byPk = new Map<string, Map<string, string>>();
    for (const n of sent) {
      const [pk] = pkOf(n);
      if (!pk || n.label.includes('/retry')) continue;
      const map = byPk.get(pk) ?? new Map<string, string>();
      map.set(n.label.split('/').at(-1) as string, n.key);
      byPk.set(pk, map);
    }
    const states = await getItems(stack.clients.dynamodb, stack.tableName, [...byPk.keys()]);
    const complete = (labels: Map<string, string>, ...wanted: string[]) => wanted.every((l) => labels.has(l));
    const listed = (item: Record<string, unknown> | undefined, attribute: string) =>
      [...((item?.[attribute] as string[] | undefined) ?? [])].sort();
    let checked = 0;
    for (const [pk, labels] of byPk) {
      const state = states.get(pk);
      const keysOf = (...wanted: string[]) => wanted.map((l) => appliedKey(labels.get(l) ?? '')).sort();
      if (complete(labels, 'moved-once', 'moved-twice')) {
        // The two reschedules of the last second carry both aspects.
        for (const attribute of ['lifecycle_applied', 'participants_applied'])
          expect(listed(state, attribute), pk).toEqual(keysOf('moved-once', 'moved-twice'));
        checked++;
      } else if (complete(labels, 'rescheduled', 'panel', 'host')) {
        // The late 12:00:00 reschedule holds the lifecycle; the 12:00:05 tie the participants.
        expect(listed(state, 'lifecycle_applied'), pk).toEqual(keysOf('rescheduled'));
        expect(listed(state, 'participants_applied'), pk).toEqual(keysOf('panel', 'host'));
        checked++;
      } else if (complete(labels, 'failing', 'reassigned')) {
        expect(listed(state, 'conferencing_applied'), pk).toEqual(keysOf('failing', 'reassigned'));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
  });
});
