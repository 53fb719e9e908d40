import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { APIGatewayProxyEventV2, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { createLogger } from '#shared/core/logger.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { makeHandler as makeIngestHandler } from '../../functions/ingest/handler.ts';
import { makeHandler as makeWorkerHandler } from '../../functions/worker/handler.ts';
import { loadLocalConfig } from '../../infra/config.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import { buildScenario, recordFigures, type SimNotification, seededRandom, simulate } from '../sim/index.ts';
import { MemoryStore } from '../support/memory-store.ts';

/**
 * Security properties that can be checked on one machine:
 *
 * - every server of ours listens on loopback only (read from the kernel's socket table, not assumed);
 * - no secret, signature or body (names, emails, phone numbers, notes, join URLs) reaches the logs, whether
 *   notifications are accepted, rejected, too large, unparseable or fail in the worker: the logs of a whole
 *   run are captured and searched, for local mode's console and for the JSON logger the functions use in AWS.
 *
 * Timing of signature rejection is checked in timing.test.ts.
 */

const NEW_SECRET = 'CRN_rotation_new_secret_for_log_check';
let stack: LocalStack;
const lines: string[] = [];

beforeAll(async () => {
  const local = loadLocalConfig(process.env);
  stack = await startLocalStack({
    quiet: false,
    print: (line) => lines.push(line),
    visibilityTimeoutSeconds: 2,
    config: {
      ...local,
      secrets: { ...local.secrets, clientSecrets: [...local.secrets.clientSecrets, NEW_SECRET] },
    },
  });
});

afterAll(async () => {
  await stack?.stop();
});

/** Listening TCP sockets of a process, from /proc: `address:port` as the kernel has them. */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) inodes.add(inode);
    } catch {
      // closed while reading
    }
  }
  const sockets: string[] = [];
  for (const [file, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ] as const) {
    for (const row of readFileSync(file, 'utf8').trim().split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      const [, local, , state, , , , , , inode] = cols;
      if (state !== '0A' || !inode || !inodes.has(inode)) continue; // 0A = LISTEN
      const [hex, portHex] = (local as string).split(':') as [string, string];
      sockets.push(`${v6 ? ipv6(hex) : ipv4(hex)}:${Number.parseInt(portHex, 16)}`);
    }
  }
  return sockets;
}

const ipv4 = (hex: string) =>
  (hex.match(/../g) as string[])
    .reverse()
    .map((b) => Number.parseInt(b, 16))
    .join('.');

/** /proc/net/tcp6 stores the address as four little-endian 32-bit words. */
function ipv6(hex: string): string {
  const bytes = (hex.match(/.{8}/g) as string[]).flatMap((word) => (word.match(/../g) as string[]).reverse());
  if (bytes.slice(0, 10).every((b) => b === '00') && bytes[10] === 'FF' && bytes[11] === 'FF') {
    return `::ffff:${bytes
      .slice(12)
      .map((b) => Number.parseInt(b, 16))
      .join('.')}`;
  }
  const groups = (bytes.join('').match(/.{4}/g) as string[]).map((g) => Number.parseInt(g, 16).toString(16));
  const text = groups.join(':');
  return text === '0:0:0:0:0:0:0:0' ? '::' : text === '0:0:0:0:0:0:0:1' ? '::1' : text;
}

const isLoopback = (socket: string) =>
  /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+):\d+$/.test(socket);

function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('servers bind loopback only', () => {
  it.runIf(process.platform === 'linux')(
    'every socket this process listens on is 127.0.0.1 (gateway, SQS emulator)',
    async () => {
      const sockets = listeningSockets(process.pid);
      const gatewayPort = Number(new URL(stack.url).port);
      const sqsPort = Number(new URL(stack.endpoints.sqs).port);
      // Not vacuous: both servers are in the list.
      expect(sockets).toContain(`127.0.0.1:${gatewayPort}`);
      expect(sockets).toContain(`127.0.0.1:${sqsPort}`);
      expect(sockets.filter((socket) => !isLoopback(socket))).toEqual([]);

      // And from another address of this machine they cannot be reached at all.
      const external = Object.values(networkInterfaces())
        .flat()
        .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;
      if (external) {
        expect(await refused(external, gatewayPort)).toBe(true);
        expect(await refused(external, sqsPort)).toBe(true);
      }
      // DynamoDB Local has no bind option (README); recorded, not asserted.
      const dynamo = stack.dynamoDbPid ? listeningSockets(stack.dynamoDbPid) : [];
      recordFigures('security: listening sockets', {
        ours: sockets,
        dynamoDbLocal: dynamo,
        externalAddressTried: external ?? null,
      });
    },
  );
});

/** Values that must never appear in a log line: secrets, signatures, and what the bodies say about people. */
function secretsOf(notifications: readonly SimNotification[], secrets: readonly string[]): string[] {
  const markers = new Set<string>(secrets);
  for (const n of notifications) {
    const text = n.body.toString();
    for (const secret of secrets) markers.add(signBody(n.body, secret));
    for (const match of text.matchAll(
      /"(email|display_name|join_url|description|captured_data\.[a-z_]+|select_url)"\s*:\s*"([^"]+)"/g,
    )) {
      markers.add(match[2] as string);
    }
    // Any 60-character run of the body itself.
    if (text.length > 200) markers.add(text.slice(100, 160));
  }
  // Shared fixed strings (a summary such as "Interview") are not personal data and would match innocently.
  return [...markers].filter((marker) => marker.length >= 12);
}

function leaks(logLines: readonly string[], markers: readonly string[]): string[] {
  const found: string[] = [];
  for (const line of logLines)
    for (const marker of markers)
      if (line.includes(marker)) found.push(`${marker} in: ${line.slice(0, 200)}`);
  return found;
}

async function post(body: Buffer, headers: Record<string, string>) {
  return (await fetch(`${stack.url}/cronofy/notifications`, { method: 'POST', body, headers })).status;
}

describe('no secret or body in the logs', { timeout: 180_000 }, () => {
  it("local mode's console, over a run with accepted, rejected, oversized and unparseable notifications", async () => {
    const secrets = stack.config.secrets.clientSecrets;
    // Accepted: Cronofy signs with both secrets during the rotation.
    const run = await simulate({
      scenario: 'mixed',
      count: 80,
      url: `${stack.url}/cronofy/notifications`,
      secrets,
      concurrency: 8,
      rate: 0,
      duplicateRatio: 0.2,
      seed: 11,
    });
    expect(run.summary.accepted).toBe(80);
    const sent = run.records.map((r) => r.notification);

    // Rejected: signed with a secret we do not hold, or carrying a signature of another body.
    const rogue = buildScenario('lifecycle', 20, {
      random: seededRandom(12),
      runId: 'lg01',
      now: new Date(),
    }).flatMap((c) => c.steps);
    for (const n of rogue)
      expect(await post(n.body, { 'cronofy-hmac-sha256': signBody(n.body, 'CRN_attacker') })).toBe(401);
    for (const n of rogue.slice(0, 5)) expect(await post(n.body, {})).toBe(401);
    // Too large, and signed.
    const huge = Buffer.concat([rogue[0]?.body as Buffer, Buffer.alloc(200 * 1024, 0x20)]);
    expect(await post(huge, { 'cronofy-hmac-sha256': signBody(huge, secrets[0] as string) })).toBe(413);
    // Signed but failing the schema, with personal data where the schema expects something else.
    const odd = Buffer.from(
      JSON.stringify({
        notification: { type: 'scheduling_request_time_chosen' },
        scheduling_request: {
          scheduling_request_id: 'srq_log_check_odd',
          event: { attendees: 'odd.person.4711@example.org', host: 17 },
        },
      }),
    );
    expect(await post(odd, { 'cronofy-hmac-sha256': signBody(odd, NEW_SECRET) })).toBe(202);

    // Let the worker and the stream tail log what they do with all of it.
    await waitFor(
      () => lines.some((line) => line.includes('srq_log_check_odd') || line.includes('unparseable')),
      30_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 3000));

    const markers = [
      ...secretsOf([...sent, ...rogue], [...secrets, 'CRN_attacker']),
      'odd.person.4711@example.org',
    ];
    expect(lines.length).toBeGreaterThan(300);
    // The search does find a leak when there is one (a planted line).
    expect(leaks([`gateway body=${rogue[0]?.body.toString()}`], markers).length).toBeGreaterThan(0);
    expect(leaks(lines, markers)).toEqual([]);
    recordFigures('security: logs of a local run searched', {
      logLines: lines.length,
      markersSearched: markers.length,
      leaks: 0,
    });
  });

  it('the JSON logger of the functions in AWS, at DEBUG, including queue and store failures', async () => {
    const logLines: string[] = [];
    const env = { LOG_LEVEL: 'DEBUG' };
    const secrets = ['CRN_aws_log_check_secret'];
    const store = new MemoryStore();
    const worker = makeWorkerHandler(
      {
        store,
        clock: () => new Date(),
        logger: createLogger('worker', (line) => logLines.push(line), env),
        retentionDays: 90,
      },
      (line) => logLines.push(line),
    );
    let queueDown = false;
    const messages: string[] = [];
    const ingest = makeIngestHandler({
      secrets: new StaticSecrets({ clientSecrets: secrets, embedPublicKey: 'EMB_x', embedSecret: 'ESK_x' }),
      queue: {
        async send(message) {
          if (queueDown) throw new Error('SendMessage failed: NetworkingError');
          messages.push(message);
        },
      },
      clock: () => new Date(),
      logger: createLogger('ingest', (line) => logLines.push(line), env),
    });
    const notifications = buildScenario('mixed', 80, {
      random: seededRandom(13),
      runId: 'lg02',
      now: new Date(),
    }).flatMap((c) => c.steps);
    const event = (n: SimNotification, signature: string) =>
      ({
        version: '2.0',
        rawPath: '/cronofy/notifications',
        headers: {
          'cronofy-hmac-sha256': signature,
          ...(n.notificationId ? { 'cronofy-notification-id': n.notificationId } : {}),
        },
        requestContext: { http: { method: 'POST', path: '/cronofy/notifications' } },
        body: n.body.toString('base64'),
        isBase64Encoded: true,
      }) as unknown as APIGatewayProxyEventV2;

    const statuses: number[] = [];
    for (const [i, n] of notifications.entries()) {
      queueDown = i % 10 === 3;
      const signature =
        i % 7 === 5 ? signBody(n.body, 'CRN_attacker') : signBody(n.body, secrets[0] as string);
      statuses.push(((await ingest(event(n, signature))) as { statusCode: number }).statusCode);
    }
    expect(new Set(statuses)).toEqual(new Set([202, 401, 503]));
    // The worker: a store failure on every fifth batch, then everything applied.
    for (let i = 0; i < messages.length; i += 10) {
      if ((i / 10) % 5 === 1)
        store.failNext.push(
          new Error(
            'ProvisionedThroughputExceededException: Rate of requests exceeds the allowed throughput',
          ),
        );
      const batch = messages.slice(i, i + 10).map((body, j) => ({ messageId: `m${i + j}`, body }));
      await worker({ Records: batch } as unknown as SQSEvent);
    }
    expect(logLines.length).toBeGreaterThan(100);
    const markers = secretsOf(notifications, [...secrets, 'CRN_attacker']);
    expect(
      leaks(
        [
          JSON.stringify({
            message: 'x',
            signature: signBody(notifications[0]?.body as Buffer, secrets[0] as string),
          }),
        ],
        markers,
      ),
    ).toHaveLength(1);
    expect(leaks(logLines, markers)).toEqual([]);
  });
});

async function waitFor(check: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
