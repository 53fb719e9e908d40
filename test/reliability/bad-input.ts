import { connect } from 'node:net';
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NOTIFICATION_BODY_MAX_BYTES as MAX_BODY_BYTES } from '#shared/contract/limits.ts';
import { keys } from '#shared/contract/records.ts';
import { idempotencyKey } from '#shared/notifications/envelope.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import { buildScenario, getItems, type Random, recordFigures, seededRandom } from '../sim/index.ts';
import { drained, queueDepth } from '../support/local-mode.ts';

/**
 * The bad-input files (bad-input-*.test.ts): bad input against the running local stack, over raw TCP so
 * nothing normalises it first. Each file builds its cases, sends them all before its tests (`sendBadInput`)
 * and checks the same invariants on them:
 *
 * - no crash: the gateway keeps answering;
 * - every answer is one the contract allows for that request (202 / 401 / 413 on the route, API Gateway's
 *   404 off it, 400 for broken HTTP), and a request that is not correctly signed is never 202;
 * - nothing unsigned reaches the queue: after the worker drains it, every notification record on the table
 *   is a body the file signed correctly, and every signed body answered 202 has its record (kept, even
 *   when unparseable). No message ends in the DLQ.
 */

export const HEAVY = process.env.RELIABILITY_HEAVY === '1';
export const ROUTE = '/cronofy/notifications';
export const OFF_ROUTE = [404];

export interface Case {
  name: string;
  /** The request, as bytes on the wire, or parts to assemble. */
  method?: string;
  path?: string;
  headers?: [string, string][];
  body?: Buffer;
  /** The bytes the server verifies, when `body` carries framing (chunked). */
  signedBody?: Buffer;
  /** Send exactly these bytes instead (broken HTTP). */
  raw?: Buffer;
  /** Correctly signed with an active secret, on the right route, within the size limit: must be 202. */
  signed?: boolean;
  /** The answers allowed. */
  allowed: number[];
}

/** What a file's cases are built from: the stack's secret and realistic notification bodies. */
export interface CaseKit {
  random: Random;
  secret: string;
  /** Bodies of real notifications (the simulator's `mixed` scenario). */
  real: Buffer[];
  realBody(): Buffer;
  sign(body: Buffer, key?: string): string;
  cronofyHeaders(signature: string): [string, string][];
  /** Correctly signed, on the route: must be 202. */
  signedCase(name: string, body: Buffer, extra?: [string, string][]): Case;
  /** Not correctly signed: 401, or 413 over the size limit. */
  unsignedCase(name: string, body: Buffer, headers: [string, string][]): Case;
}

export interface Answer {
  name: string;
  status: number | 'closed';
  allowed: number[];
}

export interface BadInputRun {
  stack: LocalStack;
  cases: Case[];
  answers: Answer[];
}

/**
 * Send one request on its own connection; the status of the answer, or `closed` when the server closed
 * without one. A request the server is still waiting on after `patienceMs` (a body shorter than its
 * Content-Length) gets a FIN, as a client giving up would send.
 */
function exchange(port: number, bytes: Buffer, patienceMs = 10_000): Promise<number | 'closed'> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    const giveUp = setTimeout(() => socket.end(), patienceMs);
    const hardStop = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer and no close'));
    }, patienceMs + 10_000);
    socket.on('data', (chunk) => {
      if (answer.length < 64) answer += chunk.toString('latin1');
    });
    socket.on('close', () => {
      clearTimeout(giveUp);
      clearTimeout(hardStop);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
      resolve(status ? Number(status) : 'closed');
    });
    // The server may answer early (413) and close while we still write: that is an answer, not a failure.
    socket.on('error', () => socket.destroy());
    socket.write(bytes);
  });
}

function request(c: Case): Buffer {
  if (c.raw) return c.raw;
  const body = c.body ?? Buffer.alloc(0);
  const head = [
    `${c.method ?? 'POST'} ${c.path ?? ROUTE} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Connection: close',
    ...(c.headers ?? []).map(([name, value]) => `${name}: ${value}`),
    ...((c.headers ?? []).some(([name]) => /^(content-length|transfer-encoding)$/i.test(name))
      ? []
      : [`Content-Length: ${body.byteLength}`]),
  ];
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

export function randomBytesOf(random: Random, size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = random.int(0, 255);
  return bytes;
}

function caseKit(secret: string): CaseKit {
  const random = seededRandom(20251123);
  const real = buildScenario('mixed', 40, {
    random,
    runId: 'fz01',
    now: new Date('2026-11-23T10:00:00Z'),
  }).flatMap((chain) => chain.steps.map((step) => step.body));
  const sign = (body: Buffer, key = secret) => signBody(body, key);
  const cronofyHeaders = (signature: string): [string, string][] => [
    ['Content-Type', 'application/json; charset=utf-8'],
    ['User-Agent', 'Cronofy (https://www.cronofy.com/support/)'],
    ['Cronofy-HMAC-SHA256', signature],
  ];
  return {
    random,
    secret,
    real,
    realBody: () => random.pick(real),
    sign,
    cronofyHeaders,
    signedCase: (name, body, extra = []) => ({
      name,
      body,
      headers: [...cronofyHeaders(sign(body)), ...extra],
      signed: true,
      allowed: [202],
    }),
    unsignedCase: (name, body, headers) => ({
      name,
      body,
      headers,
      allowed: body.byteLength > MAX_BODY_BYTES ? [413] : [401],
    }),
  };
}

/**
 * For the file: a local stack, the cases `build` makes, all sent before the tests (a few at a time, like a
 * noisy client), and the stack stopped after them. Returns the run, for the tests to read.
 */
export function sendBadInput(build: (kit: CaseKit) => Case[]): () => BadInputRun {
  let run: BadInputRun | undefined;
  let stack: LocalStack | undefined;
  beforeAll(async () => {
    // 10 s: under load a batch can take seconds, and a shorter timeout walks healthy messages to the DLQ.
    stack = await startLocalStack({ quiet: true, visibilityTimeoutSeconds: 10 });
    const cases = build(caseKit(stack.config.secrets.clientSecrets[0] as string));
    const port = Number(new URL(stack.url).port);
    const answers: Answer[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < cases.length) {
          const c = cases[next++] as Case;
          answers.push({
            name: c.name,
            status: await exchange(port, request(c), c.raw ? 1500 : 10_000),
            allowed: c.allowed,
          });
        }
      }),
    );
    run = { stack, cases, answers };
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });
  return () => {
    if (!run) throw new Error('the bad input was not sent');
    return run;
  };
}

/** Answers the contract does not allow for their request (a closed connection is allowed for broken HTTP). */
export function unexpectedAnswers(run: BadInputRun): string[] {
  return run.answers
    .filter(
      (a) =>
        !(a.allowed.includes(a.status as number) || (a.status === 'closed' && a.name.startsWith('broken'))),
    )
    .map((a) => `${a.name}: ${a.status}`);
}

/** Requests not correctly signed that were answered 202. */
export function acceptedUnsigned(run: BadInputRun): string[] {
  const byName = new Map(run.answers.map((a) => [a.name, a.status]));
  return run.cases.filter((c) => !c.signed && byName.get(c.name) === 202).map((c) => c.name);
}

/** The idempotency key of a case: the digest of the body the server verifies, whatever id header it sent. */
export const keyOf = (c: Case) => idempotencyKey(c.signedBody ?? (c.body as Buffer));

export interface Kept {
  /** The DLQ's depth once the worker drained the queue. */
  dlq: number;
  /** Notification records on the table that no correctly signed case sent. */
  unsignedOnTable: string[];
  /** Correctly signed bodies without their notification record. */
  signedMissing: string[];
  /** The notification records of the correctly signed cases. */
  records: Map<string, Record<string, unknown>>;
}

const kept = new WeakMap<BadInputRun, Promise<Kept>>();

/**
 * Let the worker drain the queue, then read what it kept (once per run); the figures go to the reliability
 * report as `bad input: <figures>`.
 */
export function keptAfterDraining(run: BadInputRun, figures: string): Promise<Kept> {
  const reading = kept.get(run) ?? readKept(run, figures);
  kept.set(run, reading);
  return reading;
}

async function readKept(run: BadInputRun, figures: string): Promise<Kept> {
  const { stack, cases, answers } = run;
  await drained(stack, 60_000);
  const { dlq } = await queueDepth(stack);
  const signed = cases.filter((c) => c.signed);
  const expected = new Set(signed.map(keyOf));
  const table = await scanNotificationIds(stack);
  const records = await getItems(
    stack.clients.dynamodb,
    stack.tableName,
    [...expected].map((key) => keys.notification(key)),
  );
  const unsignedOnTable = [...table].filter((key) => !expected.has(key));
  const statuses: Record<string, number> = {};
  for (const a of answers) statuses[String(a.status)] = (statuses[String(a.status)] ?? 0) + 1;
  recordFigures(`bad input: ${figures}`, {
    requests: cases.length,
    correctlySigned: signed.length,
    answers: statuses,
    unsignedAccepted: acceptedUnsigned(run).length,
    recordsOnTable: table.size,
    unsignedOnTable: unsignedOnTable.length,
    signedKept: expected.size,
  });
  return {
    dlq,
    unsignedOnTable,
    signedMissing: [...expected].filter((key) => !table.has(key)),
    records,
  };
}

/** Every notification id on the (fresh) table. */
async function scanNotificationIds(stack: LocalStack): Promise<Set<string>> {
  const ids = new Set<string>();
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await stack.clients.dynamodb.send(
      new ScanCommand({
        TableName: stack.tableName,
        ProjectionExpression: 'notification_id, entity',
        ExclusiveStartKey: start,
        ConsistentRead: true,
      }),
    );
    for (const item of page.Items ?? [])
      if (item.entity?.S === 'notification' && item.notification_id?.S) ids.add(item.notification_id.S);
    start = page.LastEvaluatedKey;
  } while (start);
  return ids;
}

/**
 * The checks every bad-input file makes of its run, each its own test: the answers the contract allows,
 * no 202 without a correct signature, the gateway still answering, and every correctly signed body kept
 * (nothing else, nothing in the DLQ). `figures` names the run in the reliability report.
 */
export function checkBadInputRun(
  run: () => BadInputRun,
  titles: { answers: string; unsigned: string; kept?: string },
  figures: string,
): void {
  it(titles.answers, () => {
    expect(unexpectedAnswers(run())).toEqual([]);
  });

  it(titles.unsigned, () => {
    expect(acceptedUnsigned(run())).toEqual([]);
  });

  it('keeps answering afterwards', async () => {
    expect((await fetch(`${run().stack.url}/healthz`)).status).toBe(200);
  });

  it(
    titles.kept ?? 'keeps every correctly signed body and nothing else, with no message in the DLQ',
    async () => {
      const kept = await keptAfterDraining(run(), figures);
      expect(kept.dlq).toBe(0);
      expect(kept.unsignedOnTable).toEqual([]);
      expect(kept.signedMissing).toEqual([]);
    },
  );
}
