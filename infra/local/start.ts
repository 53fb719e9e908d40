import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '#shared/core/config.ts';
import { loadLocalConfig } from '../config.ts';
import { QUEUE, TABLE, WORKER } from '../definitions.ts';
import { LOCAL_ENV, portFromEnv } from '../local-mode.ts';
import { type CronofyFake, startCronofyFake } from './cronofy-fake.ts';
import { envPrefix } from './endpoints.ts';
import { DEFAULT_API_TOKEN } from './gateway.ts';
import { linePrinter } from './log.ts';
import { JavaMissingError, requireFreePorts } from './prerequisites.ts';
import { LOCAL_MAX_WORKER_CONCURRENCY, type LocalStack, PortInUseError, startLocalStack } from './stack.ts';

/**
 * `npm start`: the whole system on this machine, no AWS account. Environment: PORT (3000), DYNAMODB_PORT
 * (8000), SQS_PORT (9324), CRONOFY_API_PORT (3100, the fake of Cronofy's API), TABLE_NAME (cronofy-records),
 * LOCAL_API_TOKEN, LOCAL_ALLOWED_HOSTS, LOCAL_VISIBILITY_TIMEOUT_SECONDS, CRONOFY_API_CREDENTIAL (the bearer the fake accepts;
 * the first client secret by default) and the CRONOFY_* overrides of cdk.json (see infra/config.ts). Ctrl-C
 * (SIGINT) or SIGTERM stops every process it started, DynamoDB Local's Java process included, and exits 0.
 *
 * DynamoDB Local has no bind-address option, so it listens on every interface; everything else binds
 * 127.0.0.1 only.
 */

export { type LocalStack, type LocalStackOptions, startLocalStack } from './stack.ts';

function visibilityOverride(env: NodeJS.ProcessEnv): number | undefined {
  const text = env.LOCAL_VISIBILITY_TIMEOUT_SECONDS;
  if (text === undefined || text === '') return undefined;
  const seconds = Number(text);
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 43_200) {
    throw new ConfigError(
      `Invalid configuration in the environment:\n  LOCAL_VISIBILITY_TIMEOUT_SECONDS: must be a whole number of seconds (0–43200), got "${text}"`,
    );
  }
  return seconds;
}

/** The fake of Cronofy's API, started first (its port was checked with the others). */
function startFake(
  env: NodeJS.ProcessEnv,
  gatewayPort: number,
  clientSecret: string,
  apiCredential: string | undefined,
  clientId: string | undefined,
): Promise<CronofyFake> {
  const ttl = env.CRONOFY_FAKE_TOKEN_TTL_SECONDS;
  const tokenTtlSeconds = ttl === undefined || ttl === '' ? undefined : Number(ttl);
  if (tokenTtlSeconds !== undefined && (!Number.isInteger(tokenTtlSeconds) || tokenTtlSeconds < 1))
    throw new ConfigError(
      `Invalid configuration in the environment:\n  CRONOFY_FAKE_TOKEN_TTL_SECONDS: must be a whole number of seconds ≥ 1, got "${ttl}"`,
    );
  return startCronofyFake({
    // Organization Connect: the application local mode is configured with (cronofy.clientId).
    ...(clientId ? { clientId } : {}),
    ...(tokenTtlSeconds === undefined ? {} : { tokenTtlSeconds }),
    port: portFromEnv(env, LOCAL_ENV.cronofyApiPort),
    notificationUrl: `http://127.0.0.1:${gatewayPort}/cronofy/notifications`,
    clientSecret,
    // The credential the local functions send (cronofy.local.apiCredential / CRONOFY_API_CREDENTIAL).
    ...(apiCredential ? { apiCredential } : {}),
    log: linePrinter('cronofy'),
  });
}

function banner(stack: LocalStack, env: NodeJS.ProcessEnv, concurrency: number, fake: CronofyFake): string {
  // Other terminals find this stack through the same variables (infra/local-mode.ts).
  const prefix = envPrefix({
    port: Number(new URL(stack.url).port),
    dynamoDbPort: Number(new URL(stack.endpoints.dynamodb).port),
    sqsPort: Number(new URL(stack.endpoints.sqs).port),
    tableName: stack.tableName,
    cronofyApiPort: fake.port,
  });
  const notify = `${prefix}npm run notify`;
  const token = env.LOCAL_API_TOKEN ? 'the value of LOCAL_API_TOKEN' : DEFAULT_API_TOKEN;
  return [
    '',
    'Local mode is ready (no AWS account needed).',
    '',
    `  Gateway         ${stack.url}   (127.0.0.1 only)`,
    `  DynamoDB Local  ${stack.endpoints.dynamodb}   table ${stack.tableName}, stream NEW_AND_OLD_IMAGES (listens on all interfaces: DynamoDB Local has no bind option)`,
    `  SQS emulator    ${stack.endpoints.sqs}   queue ${QUEUE.localName}, dead-letter queue ${QUEUE.dlqLocalName} (127.0.0.1 only)`,
    `  Cronofy API     ${fake.url}   fake: create, query, cancel; book with POST ${fake.url}/_fake/scheduling_requests/{id}/time_chosen (127.0.0.1 only)`,
    `  Worker          ${concurrency} pollers, batches of up to ${WORKER.batchSize}, visibility timeout ${stack.visibilityTimeoutSeconds} s, dead-letter after ${QUEUE.maxReceiveCount} receives`,
    '',
    'Send a signed test notification (scheduling_request_time_chosen) from another terminal:',
    `  ${notify}`,
    'or by hand, with SECRET set to a client secret of cdk.json (cronofy.local.clientSecrets) or CRONOFY_CLIENT_SECRETS:',
    `  BODY='{"notification":{"type":"scheduling_request_time_chosen"},"scheduling_request":{"scheduling_request_id":"srq_local_example"}}'`,
    `  curl -i ${stack.url}/cronofy/notifications -H "Cronofy-HMAC-SHA256: $(printf %s "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64)" --data-binary "$BODY"`,
    '',
    `Token routes (POST /tokens/claim, /tokens/embed), POST /scheduling-requests (…/{id}/cancel) and /tenants… need: Authorization: Bearer ${token}`,
    `Onboard a tenant: PUT ${stack.url}/tenants/acme {"name":"Acme"}, then POST …/tenants/acme/onboarding and open its connect_url (the fake consents at once)`,
    `Scheduling requests are created in the Cronofy fake; re-read them with: ${prefix}npm run ops -- reconcile --all-open`,
    `Check the whole path (health, signed notification, its record, a redirect, a link): ${prefix}npm run smoke -- --local`,
    ...(prefix ? [`Give npm run notify, sim, ops and smoke the same settings: ${prefix.trim()}`] : []),
    `Downstream events, as EventBridge delivers them: curl -N ${stack.url}/_local/events`,
    'Each stream record and each downstream event prints one line below. Ctrl-C stops everything.',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const env = process.env;
  let stack: LocalStack | undefined;
  let fake: CronofyFake | undefined;
  let stopping = false;
  let stoppingSince = 0;
  let starting: Promise<LocalStack> | undefined;

  const shutdown = async (signal: string) => {
    if (stopping) {
      // Ctrl-C in a terminal reaches us twice at once (from the terminal's process group and forwarded by
      // npm): that is one request. A later one means "stop waiting", but never leave DynamoDB Local behind.
      if (Date.now() - stoppingSince < 1000) return;
      killDynamoDb();
      process.exit(1);
    }
    stopping = true;
    stoppingSince = Date.now();
    console.log(
      `\n${signal}: stopping the gateway, worker pollers, stream tail, SQS emulator and DynamoDB Local…`,
    );
    try {
      const running = stack ?? (await starting?.catch(() => undefined));
      await running?.stop();
      await fake?.close();
      dynamoDbPid = undefined;
      console.log('Stopped.');
      process.exit(0);
    } catch (error) {
      console.error(`Stopping failed: ${(error as Error).message}`);
      killDynamoDb();
      process.exit(1);
    }
  };
  // Last resort if this process exits without stopping (an uncaught error): no orphan Java process.
  process.on('exit', killDynamoDb);
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // When whatever started us dies without passing a signal on (npm killed with SIGKILL, a closed terminal),
  // we are re-parented: stop then too, rather than leave DynamoDB Local running with nobody to stop it.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void shutdown('parent process exited');
  }, 1000).unref();

  try {
    const config = loadLocalConfig(env);
    const concurrency = Math.min(config.config.workerMaxConcurrency, LOCAL_MAX_WORKER_CONCURRENCY);
    const port = portFromEnv(env, LOCAL_ENV.port);
    const dynamoDbPort = portFromEnv(env, LOCAL_ENV.dynamoDbPort);
    const sqsPort = portFromEnv(env, LOCAL_ENV.sqsPort);
    // Every taken port at once, before anything starts (DynamoDB Local binds every interface).
    await requireFreePorts(
      [
        { variable: LOCAL_ENV.port, port, host: '127.0.0.1' },
        { variable: LOCAL_ENV.dynamoDbPort, port: dynamoDbPort, host: '0.0.0.0' },
        { variable: LOCAL_ENV.sqsPort, port: sqsPort, host: '127.0.0.1' },
        {
          variable: LOCAL_ENV.cronofyApiPort,
          port: portFromEnv(env, LOCAL_ENV.cronofyApiPort),
          host: '127.0.0.1',
        },
      ],
      undefined,
      env[LOCAL_ENV.tableName] ? { [LOCAL_ENV.tableName]: env[LOCAL_ENV.tableName] as string } : {},
    );
    fake = await startFake(
      env,
      port,
      config.secrets.clientSecrets[0] ?? '',
      config.secrets.apiCredential,
      config.config.clientId,
    );
    console.log('Starting DynamoDB Local (Java) and the SQS emulator…');
    starting = startLocalStack({
      port,
      dynamoDbPort,
      sqsPort,
      tableName: env[LOCAL_ENV.tableName] || TABLE.localName,
      visibilityTimeoutSeconds: visibilityOverride(env),
      apiToken: env.LOCAL_API_TOKEN || DEFAULT_API_TOKEN,
      allowedHosts: (env.LOCAL_ALLOWED_HOSTS ?? '')
        .split(',')
        .map((host) => host.trim())
        .filter(Boolean),
      workerConcurrency: concurrency,
      config,
      cronofyApiUrl: fake.url,
    });
    stack = await starting;
    dynamoDbPid = stack.dynamoDbPid;
    if (stopping) return;
    console.log(banner(stack, env, concurrency, fake));
  } catch (error) {
    if (stopping) return;
    const known =
      error instanceof ConfigError || error instanceof PortInUseError || error instanceof JavaMissingError;
    console.error(
      known ? (error as Error).message : `Local mode failed to start: ${(error as Error).message}`,
    );
    process.exit(1);
  }
}

/** DynamoDB Local's Java process until it has been stopped. */
let dynamoDbPid: number | undefined;

function killDynamoDb(): void {
  if (dynamoDbPid === undefined) return;
  try {
    process.kill(dynamoDbPid, 'SIGKILL');
  } catch {
    // already gone
  }
  dynamoDbPid = undefined;
}

const entry = process.argv[1];
if (entry && realpathSync(entry) === fileURLToPath(import.meta.url)) void main();
