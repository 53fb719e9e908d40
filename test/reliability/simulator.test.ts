import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BatchGetItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { classify } from '../../shared/cronofy/schemas.ts';
import { keys } from '../../shared/records.ts';
import { verifySignature } from '../../shared/signature.ts';
import { run } from '../sim/cli.ts';
import { type DeliveryRecord, deliver } from '../sim/delivery.ts';
import { seededRandom } from '../sim/random.ts';
import { buildScenario, type Chain, SCENARIOS, type SimNotification } from '../sim/scenarios.ts';
import type { HttpRequest, Transport } from '../sim/transport.ts';
import { verifyTable } from '../sim/verify.ts';

/**
 * The simulator itself: it must behave like Cronofy (signing, retries, give-up, duplicates, ids, rotation,
 * rate and bursts) and send payloads the project's own schemas read, or the reliability figures mean nothing.
 */

const SECRET = 'CRN_simulator_test_secret';
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
        { stdout: (text) => (out += text), stderr: process.stderr, env: {} },
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

  it('cover every notification type of the seeds and cronofy-facts.md', () => {
    const kinds = new Set(
      all.map((n) => {
        const json = (() => {
          try {
            return JSON.parse(n.body.toString());
          } catch {
            return undefined;
          }
        })();
        if (!json) return 'invalid JSON (seed)';
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
        'invalid JSON (seed)',
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
    expect(await run(['--help'], { stdout: (text) => (out += text), stderr: process.stderr, env: {} })).toBe(
      0,
    );
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
  const chain = buildScenario('lifecycle', 3, ctx(21))[0] as Chain;
  const [first, second, third] = chain.steps as [SimNotification, SimNotification, SimNotification];
  const pk = (first.expect as { pk: string }).pk;
  const at = (n: SimNotification) =>
    new Date(JSON.parse(n.body.toString()).notification.triggered_at).toISOString();
  const notificationItem = (n: SimNotification, status: string, body = n.body.toString()) => ({
    pk: keys.notification(n.key),
    entity: 'notification',
    notification_id: n.key,
    status,
    body,
    body_encoding: 'utf8',
  });
  const accepted = (n: SimNotification): DeliveryRecord => ({
    notification: n,
    outcome: 'accepted',
    requests: 1,
    duplicates: 0,
  });
  const check = (items: Record<string, unknown>[]) =>
    verifyTable([first, second, third].map(accepted), { client: table(items), tableName: 't', timeoutMs: 0 });

  it('passes a table where each notification applied once, the oldest one stale', async () => {
    const report = await check([
      notificationItem(first, 'stale'),
      notificationItem(second, 'applied'),
      notificationItem(third, 'applied'),
      { pk, applied_notifications: [third.key, second.key], triggered_at: at(third) },
    ]);
    expect(report).toMatchObject({ applied: 2, stale: 1, lost: 0, doubleApplied: 0, wrong: 0 });
  });

  it('reports a missing record, a key applied twice, a body not kept verbatim and older state winning', async () => {
    const report = await check([
      notificationItem(first, 'applied', `${first.body.toString()} `),
      notificationItem(second, 'applied'),
      { pk, applied_notifications: [first.key, second.key, second.key], triggered_at: at(second) },
    ]);
    expect(report).toMatchObject({ lost: 1, doubleApplied: 1, wrong: 2 });
    const problems = report.findings.map((f) => f.problem).join('\n');
    for (const problem of ['no notification record', 'appears 2 times', 'verbatim', 'not the newest sent']) {
      expect(problems).toContain(problem);
    }
  });
});
