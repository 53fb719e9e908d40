import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PARTITION_KEY } from '#shared/contract/keys.ts';
import { appHost, ConfigError, type PublicConfig, publicConfigSchema } from '#shared/core/config.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { runWhenEntryPoint } from '../cli-entry.ts';
import { loadLocalConfig, readCdkContext } from '../config.ts';
import {
  isConnectionRefused,
  LocalModeNotRunning,
  LocalTableNotFound,
  localClientConfig,
  localEndpoints,
  requireLocalMode,
  requireLocalTables,
} from '../local-mode.ts';
import { describeToolFailure, explainAwsSetup } from './aws-setup.ts';
import { StackNotFound, stackName, stackOutputs } from './stack-outputs.ts';

/**
 * `npm run smoke -- --stage <stage> [--region <r>]` after a deploy, or `npm run smoke -- --local` against
 * `npm start`: one pass through everything a deploy wires together, a PASS/FAIL line per step.
 *
 *   health    GET /healthz answers 200
 *   notify    a test notification, signed with the stage's first client secret as Cronofy signs, answers 202
 *   record    its notification record appears in the table (the worker took it off the queue)
 *   redirect  GET /redirects/<step> answers 302 to the configured destination
 *   link      GET /links/<name> answers 302 to the Cronofy Public Link, with a claim token
 *
 * The test notification has the type `smoke_test`, which no Cronofy notification has: the worker keeps it
 * as an `unknown_type` notification record (it expires with the others) and changes no scheduling request
 * or event record. The redirect step writes one `redirect` record for `srq_smoke_<run id>`.
 */

export const USAGE = `Usage: npm run smoke -- (--stage <stage> [--region <region>] | --local) [options]

Checks a deployed stage (or local mode) end to end and prints PASS or FAIL per step: /healthz, a signed
test notification (202), its record in the table, a redirect (302) and a public link (302).

  --stage <stage>    the stack CronofyNotifications-<stage>: its outputs and its secret are read with your
                     AWS credentials (cloudformation:DescribeStacks, secretsmanager:GetSecretValue,
                     dynamodb:GetItem on the table)
  --region <region>  where the stack is (default: AWS_REGION / your AWS config)
  --local            local mode instead, found like every local tool: PORT (or LOCAL_URL), DYNAMODB_PORT,
                     TABLE_NAME, CRONOFY_CLIENT_SECRETS as for npm start
  --step <step>      the redirect step to follow (default: the first configured in cronofy.redirects)
  --link <name>      the public link to follow (default: the first of cronofy.publicLinks)
  --timeout <s>      how long to wait for the record (default 60)
  --help             this text

The test notification (type smoke_test) is kept as an unknown_type notification record and changes no
scheduling request; the redirect step records one redirect for srq_smoke_<run id>.

Exit status: 0 every step passed; 1 a step failed; 2 usage error.`;

export interface SmokeTarget {
  /** Where the routes are, without a trailing slash. */
  baseUrl: string;
  /** A client secret the receiver accepts. */
  clientSecret: string;
  ddb: DynamoDBClient;
  tableName: string;
  config: PublicConfig;
  /** For messages: `local mode` or the stack's name. */
  label: string;
}

export interface StepResult {
  step: string;
  ok: boolean;
  detail: string;
  skipped?: boolean;
}

export interface SmokeOptions {
  step?: string;
  link?: string;
  recordTimeoutMs?: number;
  /** How often to look for the record. */
  pollMs?: number;
  print?: (line: string) => void;
}

/**
 * The key of the notification record of a body sent without a `Cronofy-Notification-ID` header:
 * `notification#sha256:<hex of SHA-256 of the raw body>`, the idempotency key the table's contract fixes.
 */
export function notificationRecordKey(body: string | Uint8Array): string {
  return `notification#sha256:${createHash('sha256').update(body).digest('hex')}`;
}

export function smokeBody(runId: string, now = new Date()): string {
  return JSON.stringify({
    notification: { type: 'smoke_test', triggered_at: `${now.toISOString().slice(0, 19)}Z` },
    smoke_test: { run_id: runId, sent_by: 'npm run smoke' },
  });
}

const line = (result: StepResult) =>
  `${result.skipped ? 'SKIP' : result.ok ? 'PASS' : 'FAIL'}  ${result.step.padEnd(9)} ${result.detail}`;

async function request(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(15_000), ...init });
}

/** Run every step; a failed step does not stop the ones that do not depend on it. */
export async function runSmoke(target: SmokeTarget, options: SmokeOptions = {}): Promise<StepResult[]> {
  const print = options.print ?? console.log;
  const results: StepResult[] = [];
  const record = (result: StepResult) => {
    results.push(result);
    print(line(result));
  };
  const attempt = async (step: string, check: () => Promise<Omit<StepResult, 'step'>>) => {
    try {
      record({ step, ...(await check()) });
    } catch (error) {
      const reason = isConnectionRefused(error)
        ? `nothing answers at ${target.baseUrl}`
        : `${(error as Error).name}: ${(error as Error).message}`;
      record({ step, ok: false, detail: reason });
    }
  };
  const runId = randomBytes(6).toString('hex');
  const requestId = `srq_smoke_${runId}`;

  await attempt('health', async () => {
    const response = await request(`${target.baseUrl}/healthz`);
    const text = await response.text();
    return { ok: response.status === 200, detail: `GET /healthz → ${response.status} ${text.slice(0, 80)}` };
  });

  const body = smokeBody(runId);
  let accepted = false;
  await attempt('notify', async () => {
    const response = await request(`${target.baseUrl}/cronofy/notifications`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'cronofy-hmac-sha256': signBody(body, target.clientSecret),
        'user-agent': 'npm run smoke',
      },
      body,
    });
    accepted = response.status === 202;
    const hint =
      response.status === 401
        ? ' (the receiver rejects the signature: is the secret the one the stage reads?)'
        : response.status === 503
          ? ' (the queue or the secret is out of reach, or the secret has no client_secrets)'
          : '';
    return {
      ok: accepted,
      detail: `POST /cronofy/notifications (signed, type smoke_test) → ${response.status}${hint}`,
    };
  });

  const key = notificationRecordKey(body);
  if (!accepted) {
    record({
      step: 'record',
      ok: false,
      skipped: true,
      detail: `${key}: not looked for, the notification was not accepted`,
    });
  } else {
    await attempt('record', async () => {
      const started = Date.now();
      const deadline = started + (options.recordTimeoutMs ?? 60_000);
      for (;;) {
        const found = await target.ddb.send(
          new GetItemCommand({
            TableName: target.tableName,
            Key: { [PARTITION_KEY]: { S: key } },
            ConsistentRead: true,
            ProjectionExpression: '#s',
            ExpressionAttributeNames: { '#s': 'status' },
          }),
        );
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        if (found.Item) {
          return {
            ok: true,
            detail: `${key} in ${target.tableName} (status ${found.Item.status?.S}) after ${seconds} s`,
          };
        }
        if (Date.now() >= deadline) {
          return {
            ok: false,
            detail: `${key} not in ${target.tableName} after ${seconds} s: is the worker running? (npm run ops -- dlq peek)`,
          };
        }
        await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
      }
    });
  }

  const step = options.step ?? Object.keys(target.config.redirects)[0];
  const destination = step ? target.config.redirects[step as keyof PublicConfig['redirects']] : undefined;
  if (!step || !destination) {
    record({
      step: 'redirect',
      ok: !options.step,
      skipped: true,
      detail: options.step
        ? `no destination configured for ${options.step} (cronofy.redirects)`
        : 'no cronofy.redirects configured',
    });
  } else {
    await attempt('redirect', async () => {
      const response = await request(
        `${target.baseUrl}/redirects/${step}?scheduling_request_id=${requestId}`,
      );
      const location = response.headers.get('location') ?? '';
      const expected = new URL(destination);
      let ok = response.status === 302;
      try {
        const got = new URL(location);
        ok &&= got.origin === expected.origin && got.pathname === expected.pathname;
      } catch {
        ok = false;
      }
      return {
        ok,
        detail: `GET /redirects/${step} → ${response.status} to ${location.split('?')[0] || '(no Location)'}`,
      };
    });
  }

  const link = options.link ?? Object.keys(target.config.publicLinks)[0];
  const slug = link ? target.config.publicLinks[link] : undefined;
  if (!link || !slug) {
    record({
      step: 'link',
      ok: !options.link,
      skipped: true,
      detail: options.link
        ? `no public link named ${options.link} (cronofy.publicLinks)`
        : 'no cronofy.publicLinks configured',
    });
  } else {
    await attempt('link', async () => {
      const response = await request(`${target.baseUrl}/links/${link}`);
      const location = response.headers.get('location') ?? '';
      const expected = `https://${appHost(target.config.dataCenter)}/pls/${slug}`;
      let ok = response.status === 302;
      try {
        const got = new URL(location);
        ok &&=
          `${got.origin}${got.pathname}` === expected && (got.searchParams.get('claim_token') ?? '') !== '';
      } catch {
        ok = false;
      }
      // The claim token is a credential for the link: never printed.
      return {
        ok,
        detail: `GET /links/${link} → ${response.status} to ${location.split('?')[0] || '(no Location)'} (claim token ${ok ? 'present' : 'missing'})`,
      };
    });
  }
  return results;
}

/** The public configuration a deploy used: cdk.json's `cronofy` context (infra/app.ts reads the same). */
function deployedPublicConfig(): PublicConfig {
  const cronofy = readCdkContext();
  const parsed = publicConfigSchema.safeParse({
    dataCenter: cronofy.dataCenter,
    redirects: cronofy.redirects,
    publicLinks: cronofy.publicLinks,
  });
  if (!parsed.success)
    throw new ConfigError(`Invalid configuration in cdk.json context: ${parsed.error.message}`);
  return parsed.data;
}

async function localTarget(env: NodeJS.ProcessEnv): Promise<SmokeTarget> {
  const endpoints = localEndpoints(env);
  await requireLocalMode(endpoints, ['gateway', 'dynamodb']);
  const ddb = new DynamoDBClient(localClientConfig(endpoints.dynamodb));
  await requireLocalTables(ddb, endpoints, ['records']);
  const { config, secrets } = loadLocalConfig(env);
  return {
    baseUrl: endpoints.gateway,
    clientSecret: secrets.clientSecrets[0] as string,
    ddb,
    tableName: endpoints.tableName,
    config,
    label: 'local mode',
  };
}

async function stageTarget(stage: string, region: string | undefined): Promise<SmokeTarget> {
  const outputs = await stackOutputs(stage, ['ApiUrl', 'TableName', 'SecretArn'], region);
  const client = new SecretsManagerClient(region ? { region } : {});
  let clientSecret: string | undefined;
  try {
    const secret = await client.send(new GetSecretValueCommand({ SecretId: outputs.SecretArn }));
    const value = JSON.parse(secret.SecretString ?? '{}') as { client_secrets?: unknown };
    const first = Array.isArray(value.client_secrets) ? value.client_secrets[0] : undefined;
    clientSecret = typeof first === 'string' && first !== '' ? first : undefined;
  } finally {
    client.destroy();
  }
  if (!clientSecret) {
    throw new StackNotFound(
      `the secret ${outputs.SecretArn} has no client_secrets yet, so every notification is refused: put the ` +
        'Cronofy client secret in it first (README: deploy), e.g. aws secretsmanager put-secret-value --secret-id <SecretArn> --secret-string \'{"client_secrets":["CRN_…"],…}\'',
    );
  }
  return {
    baseUrl: (outputs.ApiUrl ?? '').replace(/\/+$/, ''),
    clientSecret,
    ddb: new DynamoDBClient(region ? { region } : {}),
    tableName: outputs.TableName ?? '',
    config: deployedPublicConfig(),
    label: stackName(stage),
  };
}

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

export async function runSmokeCli(argv: string[], io: Io): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  const parse = (args: string[]) =>
    parseArgs({
      args,
      strict: true,
      options: {
        stage: { type: 'string' },
        region: { type: 'string' },
        local: { type: 'boolean' },
        step: { type: 'string' },
        link: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  try {
    ({ values } = parse(argv));
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  if (Boolean(values.stage) === Boolean(values.local)) {
    io.stderr(`Give either --stage <stage> or --local.\n\n${USAGE}`);
    return 2;
  }
  const timeout = values.timeout === undefined ? 60 : Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) {
    io.stderr(`--timeout must be a number of seconds > 0, got "${values.timeout}"\n\n${USAGE}`);
    return 2;
  }

  let target: SmokeTarget;
  try {
    target = values.local
      ? await localTarget(io.env)
      : await stageTarget(values.stage as string, values.region);
  } catch (error) {
    if (
      error instanceof LocalModeNotRunning ||
      error instanceof LocalTableNotFound ||
      error instanceof StackNotFound ||
      error instanceof ConfigError
    ) {
      io.stderr(error.message);
      return 1;
    }
    const setup = explainAwsSetup(error, io.env);
    if (setup) {
      io.stderr(setup);
      return 1;
    }
    throw error;
  }
  try {
    io.stdout(`Smoke test of ${target.label} (${target.baseUrl}, table ${target.tableName})`);
    const results = await runSmoke(target, {
      ...(values.step ? { step: values.step } : {}),
      ...(values.link ? { link: values.link } : {}),
      recordTimeoutMs: timeout * 1000,
      print: io.stdout,
    });
    const failed = results.filter((result) => !result.ok);
    io.stdout(
      failed.length === 0
        ? `OK: ${results.filter((r) => !r.skipped).length} steps passed`
        : `FAILED: ${failed.map((r) => r.step).join(', ')}`,
    );
    return failed.length === 0 ? 0 : 1;
  } finally {
    target.ddb.destroy();
  }
}

runWhenEntryPoint(
  import.meta.url,
  () =>
    runSmokeCli(process.argv.slice(2), {
      stdout: (text) => console.log(text),
      stderr: (text) => console.error(text),
      env: process.env,
    }),
  (error) => describeToolFailure('smoke', error),
);
