import { connect } from 'node:net';
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, type QueueAttributeName } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '#shared/contract/records.ts';
import { idempotencyKey, MAX_BODY_BYTES } from '#shared/notifications/envelope.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import { recordFigures } from '../sim/figures.ts';
import { type Random, seededRandom } from '../sim/random.ts';
import { buildScenario } from '../sim/scenarios.ts';
import { getItems } from '../sim/verify.ts';

/**
 * Bad input against the running local stack, over raw TCP so nothing normalises it first: random bytes,
 * truncated and deeply nested JSON, huge bodies, invalid UTF-8, signature header variants, wrong methods
 * and paths, broken HTTP. Invariants:
 *
 * - no crash: the gateway keeps answering, and a good notification still lands afterwards;
 * - every answer is one the contract allows for that request (202 / 401 / 413 on the route, API Gateway's
 *   404 off it, 400 for broken HTTP), and a request that is not correctly signed is never 202;
 * - nothing unsigned reaches the queue: after the worker drains it, every notification record on the table
 *   is a body this test signed correctly, and every signed body answered 202 has its record (kept, even
 *   when unparseable). No message ends in the DLQ.
 */

const HEAVY = process.env.RELIABILITY_HEAVY === '1';
const RANDOM_CASES = HEAVY ? 2000 : 250;

let stack: LocalStack;
let secret: string;

beforeAll(async () => {
  // 5 s, not less: under load a batch can take longer, and healthy messages would walk to the DLQ.
  stack = await startLocalStack({ quiet: true, visibilityTimeoutSeconds: 5 });
  secret = stack.config.secrets.clientSecrets[0] as string;
});

afterAll(async () => {
  await stack?.stop();
});

interface Case {
  name: string;
  /** The request, as bytes on the wire, or parts to assemble. */
  method?: string;
  path?: string;
  headers?: [string, string][];
  body?: Buffer;
  /** Send exactly these bytes instead (broken HTTP). */
  raw?: Buffer;
  /** Correctly signed with an active secret, on the right route, within the size limit: must be 202. */
  signed?: boolean;
  /** The answers allowed. */
  allowed: number[];
}

const ROUTE = '/cronofy/notifications';
/** Chunked cases carry framing in `body`; the bytes the server verifies are these. */
const signedBodyOf = new Map<string, Buffer>();
const OFF_ROUTE = [404];

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

const sign = (body: Buffer, key = secret) => signBody(body, key);
const cronofyHeaders = (signature: string): [string, string][] => [
  ['Content-Type', 'application/json; charset=utf-8'],
  ['User-Agent', 'Cronofy (https://www.cronofy.com/support/)'],
  ['Cronofy-HMAC-SHA256', signature],
];

function randomBytesOf(random: Random, size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = random.int(0, 255);
  return bytes;
}

/** A correct signature with the first `right` bytes right and the rest wrong. */
function partlyRight(body: Buffer, right: number): string {
  const digest = Buffer.from(sign(body), 'base64');
  for (let i = right; i < digest.length; i++) digest[i] = (digest[i] as number) ^ 0xff;
  return digest.toString('base64');
}

function buildCases(random: Random): Case[] {
  const real = buildScenario('mixed', 40, {
    random,
    runId: 'fz01',
    now: new Date('2026-11-23T10:00:00Z'),
  }).flatMap((chain) => chain.steps);
  const realBody = () => random.pick(real).body;
  const cases: Case[] = [];
  const signedCase = (name: string, body: Buffer, extra: [string, string][] = []): Case => ({
    name,
    body,
    headers: [...cronofyHeaders(sign(body)), ...extra],
    signed: true,
    allowed: [202],
  });
  const unsignedCase = (name: string, body: Buffer, headers: [string, string][]): Case => ({
    name,
    body,
    headers,
    allowed: body.byteLength > MAX_BODY_BYTES ? [413] : [401],
  });

  // Random bodies: unsigned, signed with another secret, signed correctly.
  for (let i = 0; i < RANDOM_CASES; i++) {
    const body = randomBytesOf(random, random.int(0, 3000));
    const how = random.weighted({ unsigned: 3, otherSecret: 3, garbageSignature: 2, signed: 2 });
    if (how === 'signed') cases.push(signedCase(`random bytes ${i}, signed`, body));
    else if (how === 'unsigned') cases.push(unsignedCase(`random bytes ${i}, no signature`, body, []));
    else if (how === 'otherSecret')
      cases.push(
        unsignedCase(`random bytes ${i}, other secret`, body, cronofyHeaders(sign(body, 'CRN_not_ours'))),
      );
    else {
      // Bytes that HTTP does not allow in a header value are refused before any function runs (400).
      const value = randomBytesOf(random, random.int(0, 80))
        .toString('latin1')
        .replace(/[\r\n]/g, '');
      cases.push({
        ...unsignedCase(`random bytes ${i}, garbage signature`, body, [['Cronofy-HMAC-SHA256', value]]),
        allowed: [400, 401],
      });
    }
  }

  // Truncated JSON: signed as cut (kept, unparseable) or carrying the full body's signature (rejected).
  for (let i = 0; i < 30; i++) {
    const full = realBody();
    const cut = full.subarray(0, random.int(1, full.byteLength - 1));
    cases.push(signedCase(`truncated JSON ${i}, signed`, cut));
    cases.push(
      unsignedCase(`truncated JSON ${i}, signature of the full body`, cut, cronofyHeaders(sign(full))),
    );
  }

  // Deep nesting: the worker must not recurse itself to death.
  // 30,000 levels of objects is 180 KB: deep, yet within the size limit.
  for (const depth of [1000, 30_000]) {
    const nested = Buffer.from(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
    const arrays = Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    cases.push(signedCase(`objects nested ${depth} deep, signed`, nested));
    cases.push(signedCase(`arrays nested ${depth} deep, signed`, arrays));
    cases.push(unsignedCase(`arrays nested ${depth} deep, unsigned`, arrays, []));
    cases.push(
      signedCase(
        `notification with a payload nested ${depth} deep, signed`,
        Buffer.from(
          `{"notification":{"type":"scheduling_request_time_chosen"},"x":${'['.repeat(depth)}${']'.repeat(depth)}}`,
        ),
      ),
    );
  }

  // Sizes around the limit, and far beyond it.
  const big = (size: number, fill: number) => Buffer.alloc(size, fill);
  cases.push(
    signedCase('exactly the size limit of random bytes, signed', randomBytesOf(random, MAX_BODY_BYTES)),
  );
  cases.push(signedCase('exactly the size limit of control characters, signed', big(MAX_BODY_BYTES, 0x01)));
  cases.push({
    ...signedCase('one byte over the limit, signed', big(MAX_BODY_BYTES + 1, 0x61)),
    signed: false,
    allowed: [413],
  });
  cases.push({ ...signedCase('1 MiB, signed', big(1024 * 1024, 0x7b)), signed: false, allowed: [413] });
  cases.push(unsignedCase('over 10 MiB, unsigned', big(10 * 1024 * 1024 + 1, 0x20), []));
  cases.push({
    name: 'a Content-Length of 50 MiB, nothing sent',
    headers: [
      ['Content-Length', String(50 * 1024 * 1024)],
      ['Cronofy-HMAC-SHA256', sign(Buffer.alloc(0))],
    ],
    allowed: [413],
  });

  // Invalid UTF-8 (kept as base64 when signed).
  const invalidUtf8 = Buffer.concat([
    Buffer.from('{"notification":{"type":"'),
    Buffer.from([0xc3, 0x28, 0xff, 0xfe]),
    Buffer.from('"}}'),
  ]);
  cases.push(signedCase('invalid UTF-8, signed', invalidUtf8));
  cases.push(
    unsignedCase('invalid UTF-8, unsigned', invalidUtf8, cronofyHeaders(sign(invalidUtf8, 'CRN_not_ours'))),
  );
  cases.push(signedCase('empty body, signed', Buffer.alloc(0)));
  cases.push(unsignedCase('empty body, unsigned', Buffer.alloc(0), []));

  // Signature header variants on a real body.
  const body = () => realBody();
  const good = (b: Buffer) => sign(b);
  const variants: [string, (b: Buffer) => [string, string][], boolean][] = [
    ['header name in capitals', (b) => [['CRONOFY-HMAC-SHA256', good(b)]], true],
    ['header name in lower case', (b) => [['cronofy-hmac-sha256', good(b)]], true],
    ['value surrounded by spaces', (b) => [['Cronofy-HMAC-SHA256', `   ${good(b)}   `]], true],
    [
      'rotation: garbage, then the right value',
      (b) => [['Cronofy-HMAC-SHA256', `nope,${sign(b, 'CRN_old')}, ${good(b)}`]],
      true,
    ],
    [
      'the right value in a second header line',
      (b) => [
        ['Cronofy-HMAC-SHA256', sign(b, 'CRN_old')],
        ['Cronofy-HMAC-SHA256', good(b)],
      ],
      true,
    ],
    [
      'a very long list, the right value last',
      (b) => [['Cronofy-HMAC-SHA256', `${Array(150).fill(sign(b, 'x')).join(',')},${good(b)}`]],
      true,
    ],
    [
      'content type text/plain',
      (b) => [
        ['Content-Type', 'text/plain'],
        ['Cronofy-HMAC-SHA256', good(b)],
      ],
      true,
    ],
    [
      'a notification id of 300 characters',
      (b) => [
        ['Cronofy-HMAC-SHA256', good(b)],
        ['Cronofy-Notification-ID', 'n'.repeat(300)],
      ],
      true,
    ],
    [
      'an empty notification id',
      (b) => [
        ['Cronofy-HMAC-SHA256', good(b)],
        ['Cronofy-Notification-ID', ''],
      ],
      true,
    ],
    ['empty value', () => [['Cronofy-HMAC-SHA256', '']], false],
    ['only commas', () => [['Cronofy-HMAC-SHA256', ',,,,']], false],
    [
      'base64url instead of base64',
      (b) => [['Cronofy-HMAC-SHA256', good(b).replace(/\+/g, '-').replace(/\//g, '_')]],
      false,
    ],
    ['without padding', (b) => [['Cronofy-HMAC-SHA256', good(b).replace(/=+$/, '')]], false],
    [
      'hex instead of base64',
      (b) => [['Cronofy-HMAC-SHA256', Buffer.from(good(b), 'base64').toString('hex')]],
      false,
    ],
    ['31 of 32 bytes right', (b) => [['Cronofy-HMAC-SHA256', partlyRight(b, 31)]], false],
    ['no byte right', (b) => [['Cronofy-HMAC-SHA256', partlyRight(b, 0)]], false],
    [
      'signature of the body plus a newline',
      (b) => [['Cronofy-HMAC-SHA256', sign(Buffer.concat([b, Buffer.from('\n')]))]],
      false,
    ],
    [
      'SHA-256 of the body, not an HMAC',
      (b) => [['Cronofy-HMAC-SHA256', Buffer.from(idempotencyKey(b).slice(7), 'hex').toString('base64')]],
      false,
    ],
    ['a similar header name', (b) => [['Cronofy-HMAC-SHA-256', good(b)]], false],
    ['the secret itself', () => [['Cronofy-HMAC-SHA256', secret]], false],
  ];
  // base64url only differs from base64 when the value has a '+' or '/'.
  const urlUnsafe = real.map((n) => n.body).find((b) => /[+/]/.test(sign(b))) as Buffer;
  for (const [name, headers, ok] of variants) {
    const b = name === 'base64url instead of base64' ? urlUnsafe : body();
    cases.push(
      ok
        ? { name, body: b, headers: headers(b), signed: true, allowed: [202] }
        : { name, body: b, headers: headers(b), allowed: [401] },
    );
  }
  // Chunked transfer encoding, signed: API Gateway reads it; so must we.
  {
    const b = body();
    const chunked = Buffer.concat([
      Buffer.from(`${b.byteLength.toString(16)}\r\n`),
      b,
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
    cases.push({
      name: 'chunked body, signed',
      body: chunked,
      headers: [
        ['Transfer-Encoding', 'chunked'],
        ['Cronofy-HMAC-SHA256', good(b)],
      ],
      signed: true,
      allowed: [202],
    });
    signedBodyOf.set('chunked body, signed', b);
  }

  // Wrong methods and paths: API Gateway answers 404 without calling the function, signed or not.
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const b = body();
    cases.push({
      name: `${method} on the route`,
      method,
      body: b,
      headers: cronofyHeaders(good(b)),
      allowed: OFF_ROUTE,
    });
  }
  for (const path of [
    '/cronofy/notification',
    '/cronofy/notifications/',
    '/CRONOFY/NOTIFICATIONS',
    '//cronofy/notifications',
    '/cronofy/notifications/x',
    '/cronofy/%6eotifications',
    '/',
    '/cronofy',
    '/../cronofy/notifications',
  ]) {
    const b = body();
    cases.push({ name: `POST ${path}`, path, body: b, headers: cronofyHeaders(good(b)), allowed: OFF_ROUTE });
  }
  {
    const b = body();
    cases.push({
      name: 'a query string on the route, signed',
      path: `${ROUTE}?utm_source=x`,
      body: b,
      headers: cronofyHeaders(good(b)),
      signed: true,
      allowed: [202],
    });
  }

  // Broken HTTP: the server answers 400 or closes; it must not fall over.
  const broken = [
    'GARBAGE\r\n\r\n',
    'POST /cronofy/notifications HTTP/1.1\r\nHost: x\r\nNo-Colon-Here\r\n\r\n',
    'POST /cronofy/notifications HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"short":',
    'POST /cronofy/notifications HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    'POST /cronofy/notifications HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    'POST /cronofy/notifications HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
    `POST /cronofy/notifications HTTP/1.1\r\nHost: x\r\nX-Long: ${'a'.repeat(20_000)}\r\n\r\n`,
    '\x00\x01\x02\x03\r\n\r\n',
  ];
  for (const [i, text] of broken.entries()) {
    cases.push({ name: `broken HTTP ${i}`, raw: Buffer.from(text, 'latin1'), allowed: [400, 401, 413, 431] });
  }
  return cases;
}

async function queueDepth() {
  const count = async (url: string, name: QueueAttributeName) =>
    Number(
      (await stack.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [name] })))
        .Attributes?.[name] ?? 0,
    );
  return {
    visible: await count(stack.queueUrl, 'ApproximateNumberOfMessages'),
    inFlight: await count(stack.queueUrl, 'ApproximateNumberOfMessagesNotVisible'),
    dlq: await count(stack.dlqUrl, 'ApproximateNumberOfMessages'),
  };
}

describe('bad input', { timeout: 180_000 }, () => {
  it('never crashes, answers only what the contract allows, and enqueues nothing unsigned', async () => {
    const cases = buildCases(seededRandom(20251123));
    const port = Number(new URL(stack.url).port);
    const answers: { name: string; status: number | 'closed'; allowed: number[] }[] = [];
    // A few at a time, like a noisy client.
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

    const unexpected = answers.filter(
      (a) =>
        !(a.allowed.includes(a.status as number) || (a.status === 'closed' && a.name.startsWith('broken'))),
    );
    expect(unexpected.map((a) => `${a.name}: ${a.status}`)).toEqual([]);
    const byName = new Map(answers.map((a) => [a.name, a.status]));
    expect(cases.filter((c) => !c.signed && byName.get(c.name) === 202).map((c) => c.name)).toEqual([]);

    // Still alive: health, and a good notification still applies.
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);

    // Let the worker drain the queue, then read what it kept.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const depth = await queueDepth();
      if (depth.visible === 0 && depth.inFlight === 0) break;
      if (Date.now() > deadline) throw new Error(`queue not drained: ${JSON.stringify(depth)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect((await queueDepth()).dlq).toBe(0);

    const signed = cases.filter((c) => c.signed);
    // The key is the body's digest, whatever Cronofy-Notification-ID header a case sent.
    const keyOf = (c: Case) => idempotencyKey(signedBodyOf.get(c.name) ?? (c.body as Buffer));
    const expected = new Set(signed.map(keyOf));
    const table = await scanNotificationIds();
    // Nothing on the table that was not correctly signed, and every correctly signed body kept.
    expect([...table].filter((key) => !expected.has(key))).toEqual([]);
    expect([...expected].filter((key) => !table.has(key))).toEqual([]);
    const records = await getItems(
      stack.clients.dynamodb,
      stack.tableName,
      [...expected].map((key) => keys.notification(key)),
    );
    const statuses: Record<string, number> = {};
    for (const a of answers) statuses[String(a.status)] = (statuses[String(a.status)] ?? 0) + 1;
    recordFigures('bad input: fuzz against the local stack', {
      requests: cases.length,
      correctlySigned: signed.length,
      answers: statuses,
      unsignedAccepted: 0,
      recordsOnTable: table.size,
      unsignedOnTable: 0,
      signedKept: expected.size,
      crashes: 0,
    });
    const deep = signed.find((c) => c.name === 'arrays nested 30000 deep, signed') as Case;
    expect(records.get(keys.notification(keyOf(deep)))).toMatchObject({ status: 'unparseable' });
    const invalid = signed.find((c) => c.name === 'invalid UTF-8, signed') as Case;
    expect(records.get(keys.notification(keyOf(invalid)))).toMatchObject({
      status: 'unparseable',
      body_encoding: 'base64',
    });
  });
});

/** Every notification id on the (fresh) table. */
async function scanNotificationIds(): Promise<Set<string>> {
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
