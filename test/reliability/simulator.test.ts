import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { BatchGetItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { appliedKey } from '#shared/contract/ordering.ts';
import { keys } from '#shared/contract/records.ts';
import { silentLogger } from '#shared/core/logger.ts';
import { processBatch } from '#shared/notifications/apply.ts';
import { classify } from '#shared/notifications/cronofy-schemas.ts';
import { encodeEnvelope, idempotencyKey } from '#shared/notifications/envelope.ts';
import { planNotification } from '#shared/notifications/plan.ts';
import { decodeEnvelope } from '#shared/notifications/queue-message.ts';
import { verifySignature } from '#shared/notifications/signature.ts';
import {
  buildScenario,
  type Chain,
  type DeliveryRecord,
  deliver,
  type HttpRequest,
  run,
  SCENARIOS,
  type SimNotification,
  seededRandom,
  type Transport,
  verifyStream,
  verifyTable,
} from '../sim/index.ts';
import { eventTriggerBody, schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { MemoryStore } from '../support/memory-store.ts';
import { queueMessage } from '../support/messages.ts';

/**
 * The simulator itself: it must behave like Cronofy (signing, retries, give-up, duplicates, ids, rotation,
 * rate and bursts) and send payloads the project's own schemas read, or the reliability figures mean nothing.
 */

const SECRET = 'CRN_simulator_test_secret';
/** The CLI's header and progress lines, not asserted on: kept out of npm test's output. */
const QUIET = { write: () => true };
const ctx = (seed = 1) => ({
  random: seededRandom(seed),
  runId: 'r1d2',
  now: new Date('2026-11-23T10:20:00Z'),
});

interface Seen extends HttpRequest {
  at: number;
}

/** A transport that answers from a script and records every request. */
function scripted(answer: (request: HttpRequest, n: number) => number | Promise<number>) {
  const seen: Seen[] = [];
  const transport: Transport = async (request) => {
    seen.push({ ...request, at: performance.now() });
    return { status: await answer(request, seen.length), body: '' };
  };
  return { transport, seen };
}

const fast = { initialMs: 5, factor: 2, maxMs: 40, jitter: 0 };
const one = (notification: SimNotification): Chain[] => [{ id: 'c', steps: [notification] }];
const firstOf = (scenario: (typeof SCENARIOS)[number]) =>
  buildScenario(scenario, 1, ctx())[0]?.steps[0] as SimNotification;

describe('delivery, as Cronofy delivers', () => {
  it('retries a non-2xx answer with growing backoff until it is accepted', async () => {
    const { transport, seen } = scripted((_, n) => (n < 4 ? 503 : 202));
    const { summary, records } = await deliver(one(firstOf('lifecycle')), {
      url: 'http://sim.test/',
      secrets: [SECRET],
      transport,
      backoff: { ...fast, initialMs: 20, maxMs: 1000 },
      random: seededRandom(1),
    });
    expect(records[0]).toMatchObject({ outcome: 'accepted', requests: 4 });
    expect(summary).toMatchObject({ accepted: 1, gaveUp: 0, retried: 3, notificationsRetried: 1 });
    expect(summary.byStatus).toEqual({ '503': 3, '202': 1 });
    const gaps = seen.slice(1).map((request, i) => request.at - (seen[i] as Seen).at);
    expect(gaps[0]).toBeGreaterThanOrEqual(18);
    expect(gaps[1]).toBeGreaterThanOrEqual(38);
    expect(gaps[2]).toBeGreaterThanOrEqual(78);
    // Every attempt carries the same bytes.
    expect(new Set(seen.map((request) => request.body.toString('base64'))).size).toBe(1);
  });

  it('gives up after 10 consecutive failures, not one more', async () => {
    const { transport, seen } = scripted(() => 500);
    const { summary, records } = await deliver(one(firstOf('conferencing')), {
      url: 'http://sim.test/',
      secrets: [SECRET],
      transport,
      backoff: fast,
      random: seededRandom(1),
    });
    expect(seen).toHaveLength(10);
    expect(records[0]?.outcome).toBe('gave_up');
    expect(summary).toMatchObject({ accepted: 0, gaveUp: 1 });
  });

  describe('against a real HTTP server', () => {
    let server: Server | undefined;
    afterEach(async () => {
      server?.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
    });

    it('treats a slow answer as a failure and retries it', async () => {
      let calls = 0;
      server = createServer((_req, res) => {
        calls++;
        // The first answer comes after the timeout; the second at once.
        setTimeout(() => res.writeHead(202).end(), calls === 1 ? 400 : 0);
      });
      await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cronofy/notifications`;
      const { summary, records } = await deliver(one(firstOf('triggers')), {
        url,
        secrets: [SECRET],
        timeoutMs: 150,
        backoff: fast,
        random: seededRandom(1),
      });
      expect(records[0]).toMatchObject({ outcome: 'accepted', requests: 2 });
      expect(summary.byStatus).toEqual({ timeout: 1, '202': 1 });
    });

    it('the CLI prints a JSON summary and exits 0 when everything was accepted', async () => {
      const received: string[] = [];
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const ok = verifySignature(Buffer.concat(chunks), req.headers['cronofy-hmac-sha256'] as string, [
            SECRET,
          ]);
          received.push(String(ok));
          res.writeHead(ok ? 202 : 401).end();
        });
      });
      await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cronofy/notifications`;
      let out = '';
      const code = await run(
        [
          '--url',
          url,
          '--secret',
          SECRET,
          '--count',
          '25',
          '--rate',
          '0',
          '--duplicates',
          '0.2',
          '--json',
          '--no-progress',
        ],
        { stdout: (text) => (out += text), stderr: QUIET, env: {} },
      );
      expect(code).toBe(0);
      const report = JSON.parse(out);
      expect(report.delivery).toMatchObject({ notifications: 25, accepted: 25, gaveUp: 0 });
      expect(report.delivery.requests).toBe(25 + report.delivery.duplicatesSent);
      expect(report.delivery.latencyMs.p99).toBeGreaterThan(0);
      expect(received.every((ok) => ok === 'true')).toBe(true);
    });
  });

  it('sends duplicates as the identical bytes and the same notification id', async () => {
    const { transport, seen } = scripted(() => 202);
    const chains = buildScenario('triggers', 40, ctx());
    const { summary } = await deliver(chains, {
      url: 'http://sim.test/',
      secrets: [SECRET],
      transport,
      duplicateRatio: 1,
      duplicateDelayMs: 5,
      random: seededRandom(2),
    });
    expect(summary.duplicatesSent).toBe(40);
    expect(seen).toHaveLength(80);
    const byId = new Map<string, Seen[]>();
    for (const request of seen) {
      const id = request.headers['Cronofy-Notification-ID'] as string;
      byId.set(id, [...(byId.get(id) ?? []), request]);
    }
    expect(byId.size).toBe(40);
    for (const [, pair] of byId) {
      expect(pair).toHaveLength(2);
      expect(pair[0]?.body.equals(pair[1]?.body as Buffer)).toBe(true);
      expect(pair[0]?.headers['cronofy-hmac-sha256']).toBe(pair[1]?.headers['cronofy-hmac-sha256']);
    }
  });

  it('sends Cronofy-Notification-ID on Event Trigger callbacks only', async () => {
    const { transport, seen } = scripted(() => 202);
    const chains = buildScenario('mixed', 300, ctx(3));
    await deliver(chains, { url: 'http://sim.test/', secrets: [SECRET], transport, random: seededRandom(3) });
    const isTrigger = (request: HttpRequest) => /"transitions?"/.test(request.body.toString());
    const triggers = seen.filter(isTrigger);
    expect(triggers.length).toBeGreaterThan(20);
    expect(triggers.every((request) => /^ntf_/.test(request.headers['Cronofy-Notification-ID'] ?? ''))).toBe(
      true,
    );
    expect(
      seen
        .filter((request) => !isTrigger(request))
        .some((request) => 'Cronofy-Notification-ID' in request.headers),
    ).toBe(false);
  });

  it('signs once per active secret during a rotation, each value valid for its secret', async () => {
    const { transport, seen } = scripted(() => 202);
    await deliver(buildScenario('lifecycle', 20, ctx()), {
      url: 'http://sim.test/',
      secrets: ['CRN_new', 'CRN_old'],
      transport,
      random: seededRandom(4),
    });
    for (const request of seen) {
      const header = request.headers['cronofy-hmac-sha256'] as string;
      expect(header.split(',')).toHaveLength(2);
      expect(verifySignature(request.body, header, ['CRN_new'])).toBe(true);
      expect(verifySignature(request.body, header, ['CRN_old'])).toBe(true);
      expect(verifySignature(request.body, header, ['CRN_other'])).toBe(false);
      expect(request.headers['user-agent']).toBe('Cronofy (https://www.cronofy.com/support/)');
    }
  });

  it('keeps to the rate, except in a top-of-hour burst', async () => {
    const { transport } = scripted(() => 202);
    const paced = await deliver(buildScenario('conferencing', 20, ctx()), {
      url: 'http://sim.test/',
      secrets: [SECRET],
      transport,
      rate: 100,
      random: seededRandom(5),
    });
    expect(paced.summary.elapsedMs).toBeGreaterThanOrEqual(180);
    const burst = await deliver(buildScenario('top-of-hour', 200, ctx()), {
      url: 'http://sim.test/',
      secrets: [SECRET],
      transport,
      rate: 10,
      random: seededRandom(5),
    });
    // At 10/s, 200 notifications would take 20 s; a burst ignores the rate.
    expect(burst.summary.elapsedMs).toBeLessThan(2000);
  });

  it('delivers the steps of a chain in order, each after the previous one was accepted', async () => {
    const accepted = new Set<string>();
    const chains = buildScenario('lifecycle', 60, ctx(6));
    const previous = new Map<string, string>();
    for (const chain of chains)
      for (const [i, step] of chain.steps.entries())
        if (i > 0) previous.set(step.key, chain.steps[i - 1]?.key as string);
    const order: boolean[] = [];
    const transport: Transport = async (request) => {
      const key = chains.flatMap((c) => c.steps).find((s) => s.body.equals(request.body))?.key as string;
      const before = previous.get(key);
      order.push(before === undefined || accepted.has(before));
      await new Promise((resolve) => setTimeout(resolve, 1));
      accepted.add(key);
      return { status: 202, body: '' };
    };
    await deliver(chains, {
      url: 'http://sim.test/',
      secrets: [SECRET],
      transport,
      concurrency: 8,
      random: seededRandom(6),
    });
    expect(order).toHaveLength(60);
    expect(order.every(Boolean)).toBe(true);
  });
});

describe('scenarios', () => {
  const all = buildScenario('mixed', 3000, ctx(9)).flatMap((chain) => chain.steps);

  it("cover every notification type of Cronofy's documentation", () => {
    const kinds = new Set(
      all.map((n) => {
        const json = (() => {
          try {
            return JSON.parse(n.body.toString());
          } catch {
            return undefined;
          }
        })();
        if (!json) return 'invalid JSON (documented example)';
        const notification = json.notification;
        if (notification.interactions) {
          const i = notification.interactions[0];
          return `${i.type}${i.subtype ? `/${i.subtype}` : ''}`;
        }
        if (notification.transitions) return 'event trigger (transitions[])';
        if (notification.transition) return 'event trigger (transition)';
        return notification.type;
      }),
    );
    expect([...kinds].sort()).toEqual(
      [
        'conferencing_assigned',
        'conferencing_failing',
        'conferencing_failing/profile_missing',
        'event trigger (transition)',
        'event trigger (transitions[])',
        'event_end',
        'event_participant_status_changed',
        'event_start',
        'invalid JSON (documented example)',
        'scheduling_request_declined',
        'scheduling_request_more_times_requested',
        'scheduling_request_no_times_available',
        'scheduling_request_rescheduled',
        'scheduling_request_time_chosen',
        'scheduling_request_future_type',
      ].sort(),
    );
  });

  it('are read by the project schemas as the notification expects', () => {
    for (const n of all) {
      const classified = classify(n.body.toString());
      const expected = n.expect.effect === 'record' ? n.expect.status : 'parsed';
      expect(classified.outcome, n.label).toBe(expected);
    }
  });

  it('have unique idempotency keys and, per scheduling request, strictly increasing triggered_at', () => {
    expect(new Set(all.map((n) => n.key)).size).toBe(all.length);
    for (const chain of buildScenario('lifecycle', 500, ctx(10))) {
      const times = chain.steps.map((step) =>
        Date.parse(JSON.parse(step.body.toString()).notification.triggered_at),
      );
      for (let i = 1; i < times.length; i++)
        expect(times[i], chain.id).toBeGreaterThan(times[i - 1] as number);
    }
  });

  it('hit the requested count exactly, for every scenario', () => {
    for (const name of SCENARIOS) {
      expect(buildScenario(name, 37, ctx()).reduce((sum, chain) => sum + chain.steps.length, 0)).toBe(37);
    }
  });
});

describe('CLI', () => {
  it('rejects bad options with exit status 2 and names the option', async () => {
    const errors: string[] = [];
    const stderr = { write: (text: string) => errors.push(text) } as unknown as NodeJS.WriteStream;
    for (const argv of [
      ['--duplicates', '1.5'],
      ['--scenario', 'nope'],
      ['--count', '0'],
      ['--url', 'ftp://x'],
      ['--bogus'],
    ]) {
      expect(await run(argv, { stdout: () => {}, stderr, env: {} })).toBe(2);
    }
    expect(errors.join('')).toMatch(/--duplicates must be a ratio from 0 to 1/);
    expect(errors.join('')).toMatch(
      /--scenario must be one of lifecycle, conferencing, triggers, mixed, top-of-hour/,
    );
  });

  it('--help documents every option', async () => {
    let out = '';
    expect(await run(['--help'], { stdout: (text) => (out += text), stderr: QUIET, env: {} })).toBe(0);
    for (const option of [
      '--url',
      '--secret',
      '--scenario',
      '--count',
      '--rate',
      '--concurrency',
      '--duplicates',
      '--json',
      '--verify',
      '--table',
      '--dynamodb-endpoint',
      '--stream',
      '--timeout',
      '--max-failures',
    ]) {
      expect(out).toContain(option);
    }
  });
});

describe('verify finds what it is meant to find', () => {
  /** A table in memory, answering BatchGetItem as DynamoDB does. */
  function table(items: Record<string, unknown>[]) {
    const byPk = new Map(items.map((item) => [String(item.pk), item]));
    return {
      async send(command: BatchGetItemCommand) {
        const [name, request] = Object.entries(command.input.RequestItems ?? {})[0] ?? [];
        const found = (request?.Keys ?? []).map((key) => byPk.get(String(key.pk?.S))).filter(Boolean);
        return { Responses: { [name as string]: found.map((item) => marshall(item)) } };
      },
    } as unknown as DynamoDBClient;
  }
  const ID = 'srq_verify_d6f3f8165239d662963fc0';
  const pk = keys.schedulingRequest(ID);
  const sim = (label: string, body: string, notificationId?: string): SimNotification => ({
    label,
    type: JSON.parse(body).notification.type,
    body: Buffer.from(body),
    key: idempotencyKey(Buffer.from(body)),
    expect: { effect: 'state', pk },
    ...(notificationId ? { notificationId } : {}),
  });
  // time chosen 10:00 → participant change 12:00:05 → the reschedule of 12:00:00, late → a 09:00 decline, later.
  const chosen = sim(
    'chosen',
    schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: ID,
      triggeredAt: '2026-11-23T10:00:00Z',
      attendeeStatus: 'needs_action',
    }),
  );
  const participant = sim(
    'participant',
    schedulingRequestBody('event_participant_status_changed', {
      schedulingRequestId: ID,
      triggeredAt: '2026-11-23T12:00:05Z',
      attendeeStatus: 'accepted',
    }),
  );
  const rescheduled = sim(
    'rescheduled',
    schedulingRequestBody('scheduling_request_rescheduled', {
      schedulingRequestId: ID,
      triggeredAt: '2026-11-23T12:00:00Z',
      start: '2026-12-02T09:00:00Z',
      attendeeStatus: 'needs_action',
    }),
  );
  const declined = sim(
    'declined',
    schedulingRequestBody('scheduling_request_declined', {
      schedulingRequestId: ID,
      triggeredAt: '2026-11-23T09:00:00Z',
      withEvent: false,
    }),
    'ntf_traced',
  );
  const trigger = (label: string, offset: Record<string, number>): SimNotification => {
    const body = eventTriggerBody({ before: 'event_start', offset }, { eventId: 'evt_verify' });
    const plan = planNotification(
      decodeEnvelope(encodeEnvelope({ body: Buffer.from(body), receivedAt: new Date() })),
      new Date(),
      { retentionDays: 0 },
    );
    return {
      ...sim(label, body),
      type: 'event_subscription',
      expect: { effect: 'triggers', pks: plan.triggerWrites.map((w) => w.pk) },
    };
  };
  // Two bodies for one Event Trigger record: 60 minutes, or 1 hour, before the same start.
  const triggers = [trigger('minutes', { minutes: 60 }), trigger('hour', { hours: 1 })];
  const all = [chosen, participant, rescheduled, declined, ...triggers];
  const accepted = (n: SimNotification): DeliveryRecord => ({
    notification: n,
    outcome: 'accepted',
    requests: 1,
    duplicates: 0,
  });

  /** The table the worker leaves (through the production model, in memory), and its changes as stream records. */
  async function worked() {
    const store = new MemoryStore();
    const stream: _Record[] = [];
    const deps = {
      store,
      clock: () => new Date('2026-11-23T13:00:00Z'),
      logger: silentLogger,
      retentionDays: 0,
    };
    for (const n of all) {
      const message = queueMessage(n.body, {
        ...(n.notificationId ? { notificationId: n.notificationId } : {}),
      });
      const before = new Map([...store.items].map(([key, item]) => [key, structuredClone(item)]));
      expect(await processBatch([message], deps)).toEqual([]);
      for (const [key, item] of store.items) {
        const old = before.get(key);
        if (isDeepStrictEqual(old, item)) continue;
        stream.push(change(key, old, item));
      }
    }
    return { items: store.items, stream };
  }
  let sequence = 0;
  function change(
    key: string,
    old: Record<string, unknown> | undefined,
    item: Record<string, unknown>,
  ): _Record {
    sequence++;
    return {
      eventName: old ? 'MODIFY' : 'INSERT',
      dynamodb: {
        Keys: { pk: { S: key } },
        SequenceNumber: String(sequence).padStart(21, '0'),
        NewImage: marshall(item) as never,
        ...(old ? { OldImage: marshall(old) as never } : {}),
      },
    };
  }
  const check = (items: Map<string, Record<string, unknown>>) =>
    verifyTable(all.map(accepted), { client: table([...items.values()]), tableName: 't', timeoutMs: 0 });
  const edited = (
    items: Map<string, Record<string, unknown>>,
    key: string,
    edit: (item: Record<string, unknown>) => void,
  ) => {
    const copy = new Map([...items].map(([k, item]) => [k, structuredClone(item)]));
    const item = copy.get(key);
    if (item) edit(item);
    else throw new Error(`no ${key}`);
    return copy;
  };
  const problems = (report: { findings: { problem: string }[] }) =>
    report.findings.map((f) => f.problem).join('\n');

  it('passes what the worker leaves: the late reschedule applied, the old decline stale, one Event Trigger for two bodies', async () => {
    const { items, stream } = await worked();
    const report = await check(items);
    expect(report.findings).toEqual([]);
    expect(report).toMatchObject({
      checked: 6,
      applied: 5,
      stale: 1,
      lost: 0,
      doubleApplied: 0,
      regressed: 0,
      wrong: 0,
    });
    const streamReport = verifyStream(all.map(accepted), stream);
    expect(streamReport.findings).toEqual([]);
    expect(streamReport).toMatchObject({ once: 5, stale: 1, missing: 0, doubleApplied: 0, regressed: 0 });
  });

  it('reports a lost notification record, and an applied notification missing from the keys at its time', async () => {
    const { items } = await worked();
    const noRecord = await check(
      edited(items, keys.notification(participant.key), () => {}).set(keys.notification(participant.key), {
        pk: 'x',
      }),
    );
    expect(noRecord).toMatchObject({ lost: 1 });
    expect(problems(noRecord)).toContain('no notification record');
    // Not listed, and not showing its values either (a body whose values the record shows needs no write).
    const unlisted = await check(
      edited(items, pk, (item) => {
        item.lifecycle_applied = [];
        item.status = 'declined';
      }),
    );
    expect(unlisted.lost).toBeGreaterThanOrEqual(1);
    expect(problems(unlisted)).toContain('not in its applied keys');
    // A same-meaning body in other bytes is no write: not listed, but the record shows its values.
    expect(await check(edited(items, pk, (item) => (item.lifecycle_applied = [])))).toMatchObject({
      lost: 0,
    });
    const noTrigger = new Map(items);
    noTrigger.delete((triggers[0]?.expect as { pks: string[] } | undefined)?.pks[0] as string);
    expect(await check(noTrigger)).toMatchObject({ lost: 2 });
  });

  it('reports a key listed twice, an aspect older than the newest time sent, and values of another notification', async () => {
    const { items } = await worked();
    const twice = await check(
      edited(
        items,
        pk,
        (item) => (item.participants_applied = [appliedKey(participant.key), appliedKey(participant.key)]),
      ),
    );
    expect(twice).toMatchObject({ doubleApplied: 1 });
    const back = await check(
      edited(items, pk, (item) => {
        item.triggered_at = '2026-11-23T10:00:00.000Z';
        item.lifecycle_applied = [appliedKey(chosen.key)];
        item.status = 'time_chosen';
      }),
    );
    expect(back.regressed).toBe(1);
    expect(problems(back)).toContain('older than 2026-11-23T12:00:00.000Z sent');
    const values = await check(edited(items, pk, (item) => (item.status = 'declined')));
    expect(values).toMatchObject({ wrong: 1, regressed: 0 });
    expect(problems(values)).toContain('status declined, not rescheduled');
  });

  it('reports a body not kept verbatim, a header id never sent, and a stale record newer than what was kept', async () => {
    const { items } = await worked();
    const report = await check(
      edited(
        edited(items, keys.notification(chosen.key), (item) => (item.body = `${String(item.body)} `)),
        keys.notification(declined.key),
        (item) => (item.cronofy_notification_id = 'ntf_forged'),
      ),
    );
    expect(report).toMatchObject({ wrong: 2, lost: 0 });
    expect(problems(report)).toContain('verbatim');
    expect(problems(report)).toContain('ntf_forged was never sent');
    const stale = await check(
      edited(items, keys.notification(participant.key), (item) => (item.status = 'stale')),
    );
    expect(problems(stale)).toContain('recorded stale, but');
  });

  it('on the stream: reports a key applied twice, a change that applies nothing, an aspect back in time, a missing effect', async () => {
    const { items, stream } = await worked();
    const last = items.get(pk) as Record<string, unknown>;
    // The untimed-replay race: the time-chosen participants come back at a later receipt time.
    const again = {
      ...last,
      participants_triggered_at: '2026-11-23T13:00:00.000Z',
      participants_applied: [appliedKey(chosen.key)],
    };
    const nothing = { ...again, revision: 99 };
    const back = {
      ...nothing,
      triggered_at: '2026-11-23T10:00:00.000Z',
      lifecycle_applied: [appliedKey(rescheduled.key)],
    };
    const report = verifyStream(all.map(accepted), [
      ...stream,
      change(pk, last, again),
      change(pk, again, nothing),
      change(pk, nothing, back),
    ]);
    // Twice: time chosen (participants), and the reschedule whose key the backwards change lists again;
    // plus the change that applied nothing.
    expect(report).toMatchObject({ doubleApplied: 3, regressed: 1 });
    expect(problems(report)).toContain(`applied 2 times to one aspect of ${pk}`);
    expect(problems(report)).toContain('MODIFY applied no notification');
    expect(problems(report)).toContain(
      'lifecycle_as_of went from 2026-11-23T12:00:00.000Z to 2026-11-23T10:00:00.000Z',
    );
    const withoutParticipant = stream.filter(
      (record) =>
        !(
          record.dynamodb?.Keys?.pk?.S === pk &&
          JSON.stringify(record.dynamodb?.NewImage).includes('12:00:05')
        ),
    );
    expect(verifyStream(all.map(accepted), withoutParticipant).missing).toBeGreaterThanOrEqual(1);
    const twiceRecorded = [
      ...stream,
      ...stream.filter((r) => r.dynamodb?.Keys?.pk?.S?.startsWith('event_trigger#')),
    ];
    expect(verifyStream(all.map(accepted), twiceRecorded).doubleApplied).toBe(2);
  });
});
