import { randomBytes } from 'node:crypto';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '#shared/contract/keys.ts';
import { encodeEnvelope } from '#shared/notifications/envelope.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { freePort } from '../../infra/local/services.ts';
import type { LocalStack } from '../../infra/local/stack.ts';
import { localEndpoints } from '../../infra/local-mode.ts';
import { runOps } from '../../infra/ops/cli.ts';
import { schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { localModeEnv, runCommand, startTestStack } from '../support/local-mode.ts';

/**
 * `npm run ops` against a running local mode (real gateway, worker, DynamoDB Local, SQS emulator), found the
 * way a user's terminal finds it: through DYNAMODB_PORT, SQS_PORT and TABLE_NAME.
 */

const SECRET = 'CRN_e2e_ops_cli_secret';
/** A value of the bodies that must never be printed. */
const PRIVATE = 'casey.private@example.com';

let stack: LocalStack;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  stack = await startTestStack('ops', SECRET);
  env = localModeEnv(stack);
});
afterAll(async () => stack?.stop());

async function ops(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return opsWith({}, ...argv);
}

/** `ops` with some variables of the environment changed. */
async function opsWith(
  changed: NodeJS.ProcessEnv,
  ...argv: string[]
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runOps(argv, {
    stdout: (text) => {
      out += `${text}\n`;
    },
    stderr: (text) => {
      err += `${text}\n`;
    },
    env: { ...env, ...changed },
  });
  return { code, out, err };
}

/** What `ops list --json` lists, optionally for one status. */
async function listed(status?: string): Promise<Record<string, unknown>[]> {
  return JSON.parse((await ops('list', '--json', ...(status ? ['--status', status] : []))).out);
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function post(body: string): Promise<void> {
  const response = await fetch(`${stack.url}/cronofy/notifications`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cronofy-hmac-sha256': signBody(body, SECRET) },
    body,
  });
  expect(response.status).toBe(202);
}

async function dlqDepth(): Promise<number> {
  const result = await stack.clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: stack.dlqUrl,
      AttributeNames: ['ApproximateNumberOfMessages'],
    }),
  );
  return Number(result.Attributes?.ApproximateNumberOfMessages);
}

describe('ops list', () => {
  const id = `srq_ops_${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    // unparseable (signed, not JSON), unknown_type, and stale (older than what was applied), each with a
    // value that must not be printed.
    await post(`not json at all ${PRIVATE}`);
    await post(JSON.stringify({ notification: { type: 'brand_new_type' }, contact: PRIVATE }));
    await post(
      schedulingRequestBody('scheduling_request_time_chosen', {
        schedulingRequestId: id,
        triggeredAt: '2026-11-23T10:00:00Z',
        correlationId: PRIVATE,
      }),
    );
    // The older one only after the newer one is applied (a standard queue does not keep order).
    await until(async () => (await listed('applied')).length === 1, 'the newer notification to apply');
    await post(
      schedulingRequestBody('scheduling_request_rescheduled', {
        schedulingRequestId: id,
        triggeredAt: '2026-11-23T09:00:00Z',
        correlationId: PRIVATE,
      }),
    );
    await until(async () => (await listed()).length === 3, 'the worker to keep the three notifications');
  });

  it('lists every notification that was not applied, with ids, type, status, time and reason only', async () => {
    const { code, out } = await ops('list');
    expect(code).toBe(0);
    expect(out).toMatch(
      /^3 notification\(s\) with status stale, unparseable, unknown_type, rejected in e2e-ops-/,
    );
    expect(out).toMatch(/unparseable\s+\(none\)\s+sha256:[0-9a-f]{64}\s+\S/);
    expect(out).toMatch(/unknown_type\s+brand_new_type\s+sha256:[0-9a-f]{64}/);
    expect(out).toMatch(/stale\s+scheduling_request_rescheduled\s+sha256:[0-9a-f]{64}/);
    expect(out).not.toContain(PRIVATE);
    expect(out).not.toContain('not json at all');
  });

  it('filters by status and reads no body from the table', async () => {
    const { out } = await ops('list', '--status', 'unparseable', '--json');
    const listed = JSON.parse(out) as Record<string, unknown>[];
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ status: 'unparseable', type: null });
    expect(Object.keys(listed[0] ?? {}).sort()).toEqual(
      expect.arrayContaining(['notification_id', 'received_at', 'status']),
    );
    expect(listed[0]).not.toHaveProperty('body');
    expect(JSON.stringify(listed)).not.toContain(PRIVATE);
  });

  it('lists applied ones on request, and only those since --since', async () => {
    const applied = JSON.parse((await ops('list', '--status', 'applied', '--json')).out) as {
      type: string;
    }[];
    expect(applied.map((n) => n.type)).toEqual(['scheduling_request_time_chosen']);
    const future = await ops('list', '--since', '2999-01-01T00:00:00Z');
    expect(future.out).toMatch(/^0 notification\(s\) .* since 2999-01-01T00:00:00.000Z/);
  });

  it('inspects and lists with DynamoDB Local alone: no SQS emulator needed', async () => {
    const noSqs = { SQS_PORT: String(await freePort()) };

    const inspected = await opsWith(noSqs, 'inspect', id);
    expect(inspected.code).toBe(0);
    expect(JSON.parse(inspected.out)).toHaveProperty('record');
    expect((await opsWith(noSqs, 'list')).code).toBe(0);
    // A command that uses the queues still names the one that is missing, and its variable.
    await expect(opsWith(noSqs, 'dlq', 'peek')).rejects.toThrow(
      `local mode is not running at http://127.0.0.1:${noSqs.SQS_PORT} (the SQS emulator); start it with npm start. If it runs on other ports, give this command the same SQS_PORT as npm start.`,
    );
  });

  it("names the table local mode does not have, and the variable to give, when TABLE_NAME is not npm start's", async () => {
    const at = `DynamoDB Local at http://127.0.0.1:${env.DYNAMODB_PORT}`;
    for (const argv of [['list'], ['inspect', 'sr_x'], ['replay', 'ntf_x']])
      await expect(opsWith({ TABLE_NAME: 'forgotten' }, ...argv)).rejects.toThrow(
        `table forgotten was not found in ${at}: give this command the same TABLE_NAME as npm start`,
      );
    await expect(opsWith({ TABLE_NAME: 'forgotten' }, 'tenant', 'list')).rejects.toThrow(
      `table forgotten-tenants was not found in ${at}: give this command the same TABLE_NAME (and TENANTS_TABLE_NAME, if set) as npm start`,
    );
  });

  it('runs as a user runs it, with only DYNAMODB_PORT and TABLE_NAME set: options passed, exit 0, no Node warning', async () => {
    // Without the test runner's NODE_NO_WARNINGS: npm run ops must keep the AWS SDK's Node version warning away itself.
    const userEnv = Object.fromEntries(
      Object.entries(process.env).filter(
        ([name]) => !['NODE_NO_WARNINGS', 'SQS_PORT', 'PORT'].includes(name),
      ),
    );
    const { code, output } = await runCommand(
      'npm',
      ['run', '-s', 'ops', '--', 'list', '--status', 'stale'],
      {
        ...userEnv,
        DYNAMODB_PORT: env.DYNAMODB_PORT,
        TABLE_NAME: env.TABLE_NAME,
      },
    );

    expect(output).toMatch(/^1 notification\(s\) with status stale in e2e-ops-/);
    expect(output).not.toContain('Warning');
    expect(code).toBe(0);
  });

  it('refuses a status or date it does not know, with exit 2', async () => {
    expect((await ops('list', '--status', 'lost')).code).toBe(2);
    const since = await ops('list', '--since', 'yesterday');
    expect(since.code).toBe(2);
    expect(since.err).toContain('--since must be an ISO 8601 date');
  });
});

describe('ops dlq peek', () => {
  beforeAll(async () => {
    const bodies = [
      schedulingRequestBody('scheduling_request_declined', { correlationId: PRIVATE }),
      `{"notification":{"type":"smoke"},"x":"${PRIVATE}"`,
    ];
    for (const body of bodies) {
      await stack.clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: stack.dlqUrl,
          MessageBody: encodeEnvelope({
            body: Buffer.from(body),
            receivedAt: new Date(),
            headerId: `ntf_dlq_${randomBytes(4).toString('hex')}`,
          }),
        }),
      );
    }
    await stack.clients.sqs.send(new SendMessageCommand({ QueueUrl: stack.dlqUrl, MessageBody: 'garbage' }));
  });

  it('shows ids, types and receive counts without consuming or printing payloads', async () => {
    const { code, out } = await ops('dlq', 'peek');
    expect(code).toBe(0);
    expect(out).toMatch(/^3 message\(s\) in the dead-letter queue \(peeked, none consumed/);
    expect(out).toContain('scheduling_request_declined');
    expect(out).toContain('(not JSON)');
    expect(out).toContain('(not a notification envelope)');
    expect(out).toMatch(/ntf_dlq_[0-9a-f]{8}/);
    expect(out).toContain('Last errors are not kept in local mode');
    expect(out).not.toContain(PRIVATE);
    // Still there, and visible at once: a second peek sees the same messages, one receive later.
    expect(await dlqDepth()).toBe(3);
    const again = JSON.parse((await ops('dlq', 'peek', '--json')).out) as { receiveCount: number }[];
    expect(again).toHaveLength(3);
    for (const letter of again) expect(letter.receiveCount).toBe(2);
  });

  it('redrive --status says what is left in local mode instead of failing', async () => {
    const { code, out } = await ops('redrive', '--status');
    expect(code).toBe(0);
    expect(out).toContain('Local mode has no message move tasks');
    expect(out).toContain('3 message(s) in the dead-letter queue now');
  });
});

describe('ops tenant purge and list --tenant', () => {
  const tenant = `offboarded-${randomBytes(4).toString('hex')}`;
  beforeAll(async () => {
    for (const [i, owner] of [tenant, tenant, tenant, 'someone-else'].entries())
      await stack.clients.dynamodb.send(
        new PutItemCommand({
          TableName: stack.tableName,
          Item: marshall({
            pk: `notification#ntf_tenant_${tenant}_${i}`,
            entity: 'notification',
            notification_id: `ntf_tenant_${tenant}_${i}`,
            status: 'stale',
            received_at: new Date().toISOString(),
            tenant_id: owner,
          }),
        }),
      );
  });

  it("lists a tenant's notifications, counts them in a dry run, deletes them with progress lines, and again deletes nothing", async () => {
    const list = await ops('list', '--tenant', tenant);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(new RegExp(`^3 notification\\(s\\) of tenant ${tenant} with status`));

    const dry = await ops('tenant', 'purge', tenant, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(
      new RegExp(
        `^tenant ${tenant}: 3 record\\(s\\) would be deleted \\(\\d+ item\\(s\\) scanned, 1 page\\(s\\)\\)`,
      ),
    );
    expect(dry.out).toContain(`Dry run: 3 record(s) of tenant ${tenant}`);

    const purged = await ops('tenant', 'purge', tenant);
    expect(purged.code).toBe(0);
    expect(purged.out).toContain(`tenant ${tenant}: 3 record(s) deleted`);
    expect(purged.out).toContain(`Purged tenant ${tenant}: 3 record(s) deleted`);
    expect(purged.out).not.toContain('check the id');
    // A typo (never registered, no record) deletes nothing and says so.
    const typo = await ops('tenant', 'purge', `${tenant}-typo`);
    expect(typo.code).toBe(0);
    expect(typo.out).toContain(`No tenant ${tenant}-typo was ever registered and no record carries it`);
    expect((await ops('list', '--tenant', tenant)).out).toMatch(/^0 notification\(s\)/);
    expect((await ops('list', '--tenant', 'someone-else')).out).toMatch(/^1 notification\(s\)/);

    const again = await ops('tenant', 'purge', tenant, '--json');
    expect(JSON.parse(again.out)).toMatchObject({
      tenant_id: tenant,
      dry_run: false,
      matched: 0,
      deleted: 0,
    });
  });

  it('replay without --tenant of a notification that arrived at a tenant URL names that tenant', async () => {
    const holder = `holder-${randomBytes(4).toString('hex')}`;
    const id = `sha256:${randomBytes(32).toString('hex')}`;
    const put = (TableName: string, item: Record<string, unknown>) =>
      stack.clients.dynamodb.send(new PutItemCommand({ TableName, Item: marshall(item) }));
    await put(localEndpoints(env).tenantsTableName, {
      pk: `tenant#${holder}`,
      entity: 'tenant',
      tenant_id: holder,
      name: 'Holder',
      status: 'connected',
    });
    await put(stack.tableName, {
      pk: keys.notification(id, holder),
      entity: 'notification',
      notification_id: id,
      status: 'stale',
      received_at: new Date().toISOString(),
      tenant_id: holder,
      signed_by: 'tenant',
    });
    await expect(ops('replay', id)).rejects.toThrow(
      `no notification ${id} in ${stack.tableName} without a tenant: it arrived at the URL of tenant ${holder}; replay it with --tenant ${holder}`,
    );
    await expect(ops('replay', `sha256:${'0'.repeat(64)}`)).rejects.toThrow(
      'a notification that arrived at a tenant URL needs --tenant <tenant_id>',
    );
  });

  it('refuses a missing or malformed tenant id and an unknown tenant command, with exit 2', async () => {
    expect((await ops('tenant', 'purge')).err).toContain('tenant purge needs a tenant_id');
    expect((await ops('tenant', 'purge', 'no spaces')).code).toBe(2);
    expect((await ops('tenant', 'wipe', tenant)).err).toMatch(/^Unknown tenant command: wipe/);
    expect((await ops('list', '--tenant', 'a/b')).err).toContain('--tenant must be a tenant_id');
  });
});

describe('ops usage', () => {
  it('exits 2 with the usage for an unknown command, saying it is unknown', async () => {
    const { code, err } = await ops('frobnicate');
    expect(code).toBe(2);
    expect(err).toMatch(/^Unknown command: frobnicate\n/);
    expect(err).toContain('Usage: npm run ops');
  });

  it('exits 2 when a command misses its argument', async () => {
    const { code, err } = await ops('replay');
    expect(code).toBe(2);
    expect(err).toContain('replay needs a notification_id');
    // The message stays on screen: a pointer to the help, not 50 lines of it.
    expect(err).toContain('Run `npm run ops -- --help`');
    expect(err).not.toContain('Usage: npm run ops');
  });

  it('says local mode is not running, and how to start it, instead of ECONNREFUSED (as a user runs it)', async () => {
    const [dynamoPort, sqsPort] = await Promise.all([freePort(), freePort()]);
    const { code, output } = await runCommand('npm', ['run', '-s', 'ops', '--', 'list'], {
      ...process.env,
      DYNAMODB_PORT: String(dynamoPort),
      SQS_PORT: String(sqsPort),
    });
    expect(code).toBe(1);
    expect(output).toContain(`local mode is not running at http://127.0.0.1:${dynamoPort}`);
    expect(output).toContain('start it with npm start');
    expect(output).not.toContain('ECONNREFUSED');
  });
});
