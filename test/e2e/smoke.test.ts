import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/services.ts';
import type { LocalStack } from '../../infra/local/stack.ts';
import { notificationRecordKey, runSmokeCli } from '../../infra/ops/smoke.ts';
import { localModeEnv, runCommand, startTestStack } from '../support/local-mode.ts';

/**
 * `npm run smoke -- --local` against a running local mode (real gateway, queue, worker, DynamoDB Local), the
 * same command that checks a deployed stage; only how it finds the target differs.
 */

const SECRET = 'CRN_e2e_smoke_secret';
let stack: LocalStack;
let env: Record<string, string>;

beforeAll(async () => {
  stack = await startTestStack('smoke', SECRET);
  env = { ...localModeEnv(stack), CRONOFY_CLIENT_SECRETS: SECRET };
});
afterAll(async () => stack?.stop());

function npmSmoke(args: string[], extra: Record<string, string> = {}) {
  return runCommand('npm', ['run', '-s', 'smoke', '--', ...args], { ...process.env, ...env, ...extra });
}

async function inProcess(args: string[], extra: Record<string, string> = {}) {
  let output = '';
  const write = (text: string) => {
    output += `${text}\n`;
  };
  const code = await runSmokeCli(args, { stdout: write, stderr: write, env: { ...env, ...extra } });
  return { code, output };
}

describe('npm run smoke -- --local', () => {
  it('passes every step, and the record it found is the one the table holds', async () => {
    const { code, output } = await npmSmoke(['--local']);

    // The URL once: local mode is not named by it.
    expect(output).toContain(`Smoke test of local mode (${stack.url}, table ${stack.tableName})\n`);
    expect(output).toMatch(/^PASS {2}health {4}GET \/healthz → 200/m);
    expect(output).toMatch(
      /^PASS {2}notify {4}POST \/cronofy\/notifications \(signed, type smoke_test\) → 202/m,
    );
    expect(output).toMatch(
      /^PASS {2}redirect {2}GET \/redirects\/time_chosen → 302 to https:\/\/example\.com\/interviews\/time-chosen$/m,
    );
    expect(output).toMatch(
      /^PASS {2}link {6}GET \/links\/onsite-interview → 302 to https:\/\/app\.cronofy\.com\/pls\/Q5-ZDPM8 \(claim token present\)$/m,
    );
    expect(output).toMatch(/^OK: 5 steps passed$/m);
    expect(code).toBe(0);
    // The claim token is never printed.
    expect(output).not.toMatch(/claim_token=|eyJ/);

    const key = /^PASS {2}record {4}(notification#sha256:[0-9a-f]{64}) in /m.exec(output)?.[1];
    expect(key).toBeDefined();
    const item = await stack.clients.dynamodb.send(
      new GetItemCommand({
        TableName: stack.tableName,
        Key: { pk: { S: key as string } },
        ConsistentRead: true,
      }),
    );
    expect(item.Item?.status?.S).toBe('unknown_type');
    expect(item.Item?.type?.S).toBe('smoke_test');
  }, 60_000);

  it('looks the record up by the sha256 of the raw body', () => {
    expect(notificationRecordKey('{}')).toBe(
      'notification#sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    );
  });

  it('fails the notify step, and says why, when the secret is not the receiver’s', async () => {
    const { code, output } = await inProcess(['--local'], {
      CRONOFY_CLIENT_SECRETS: 'CRN_not_the_receivers',
    });
    expect(code).toBe(1);
    expect(output).toMatch(/^FAIL {2}notify {4}.*→ 401 \(the receiver rejects the signature/m);
    expect(output).toMatch(/^SKIP {2}record {4}notification#sha256:[0-9a-f]{64}: not looked for/m);
    expect(output).toMatch(/^PASS {2}health/m);
    expect(output).toMatch(/^FAILED: notify, record$/m);
  });

  it('names the table local mode does not have, and TABLE_NAME, before any step', async () => {
    const { code, output } = await inProcess(['--local', '--timeout', '1'], { TABLE_NAME: 'no-such-table' });
    expect(code).toBe(1);
    expect(output).toMatch(
      /^table no-such-table was not found in DynamoDB Local at http:\/\/127\.0\.0\.1:\d+: give this command the same TABLE_NAME as npm start/,
    );
    expect(output).not.toContain('ResourceNotFoundException');
  });

  it('says local mode is not running, and how to start it', async () => {
    const { code, output } = await inProcess(['--local'], { PORT: String(await freePort()) });
    expect(code).toBe(1);
    expect(output).toMatch(
      /^local mode is not running at http:\/\/127\.0\.0\.1:\d+ \(the gateway\); start it with npm start/,
    );
  });

  it('refuses to guess between a stage and local mode (exit 2)', async () => {
    expect((await inProcess([])).code).toBe(2);
    expect((await inProcess(['--local', '--stage', 'dev'])).code).toBe(2);
    expect((await inProcess(['--local', '--timeout', 'soon'])).code).toBe(2);
  });
});
