import { Socket } from 'node:net';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ENV } from '#shared/contract/env.ts';
import { ConfigError } from '#shared/core/config.ts';
import { TABLE, TENANTS_TABLE } from './definitions.ts';

/**
 * How every tool finds local mode (`npm start`): the variables `npm start` reads, with the same defaults, the
 * endpoints they give, the region and credentials its emulators take, and what to say when nothing is there.
 * Local mode (infra/local/) starts on these; the operator tools (infra/ops/), `npm run notify` and the
 * simulator find it with them. Run a tool with the same PORT, DYNAMODB_PORT, SQS_PORT and TABLE_NAME as
 * `npm start` and it finds the running stack; LOCAL_URL overrides the gateway's URL when it is not
 * http://127.0.0.1:$PORT (a proxy, another machine).
 */

/** The variables that place local mode. TABLE_NAME and CRONOFY_API_URL are the functions' own (shared/contract/env.ts). */
export const LOCAL_ENV = {
  port: 'PORT',
  dynamoDbPort: 'DYNAMODB_PORT',
  sqsPort: 'SQS_PORT',
  cronofyApiPort: 'CRONOFY_API_PORT',
  tableName: ENV.tableName,
  tenantsTableName: ENV.tenantsTableName,
  localUrl: 'LOCAL_URL',
  cronofyApiUrl: ENV.cronofyApiUrl,
} as const;

/**
 * The client id of Cronofy's application in local mode (cronofy.clientId when cdk.json has none): the fake's
 * Organization Connect accepts it, with the first local client secret as the application's client secret.
 */
export const LOCAL_CLIENT_ID = 'local_cronofy_fake_client';

/** The port of each service when its variable is not set. */
export const DEFAULT_PORTS = {
  [LOCAL_ENV.port]: 3000,
  [LOCAL_ENV.dynamoDbPort]: 8000,
  [LOCAL_ENV.sqsPort]: 9324,
  [LOCAL_ENV.cronofyApiPort]: 3100,
} as const;
type PortVariable = keyof typeof DEFAULT_PORTS;

/** The region local mode's emulators are addressed in (the SQS emulator keeps queues per region). */
export const LOCAL_REGION = 'us-east-1';
/** Emulators accept any credentials; DynamoDB Local runs with -sharedDb so every key sees one database. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** AWS SDK client settings for one of local mode's emulators: no retries, so a tool fails fast when it is down. */
export function localClientConfig(endpoint: string) {
  return { endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 };
}

/** A TCP port from the environment (DEFAULT_PORTS when unset), failing with the variable's name. */
export function portFromEnv(env: NodeJS.ProcessEnv, variable: PortVariable): number {
  const text = env[variable];
  if (text === undefined || text === '') return DEFAULT_PORTS[variable];
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new ConfigError(
      `Invalid configuration in the environment:\n  ${variable}: must be a port number (1–65535), got "${text}"`,
    );
  }
  return port;
}

export interface LocalEndpoints {
  /** The gateway, e.g. http://127.0.0.1:3000 (no trailing slash). */
  gateway: string;
  dynamodb: string;
  sqs: string;
  tableName: string;
  /** The tenants table (localTenantsTableName). */
  tenantsTableName: string;
}

/**
 * The local tenants table: TENANTS_TABLE_NAME, else `cronofy-tenants` beside the default records table, else
 * `<TABLE_NAME>-tenants`, so two local stacks with their own TABLE_NAME never share tenants.
 */
export function localTenantsTableName(env: NodeJS.ProcessEnv, tableName: string): string {
  const named = env[LOCAL_ENV.tenantsTableName]?.trim();
  if (named) return named;
  return tableName === TABLE.localName ? TENANTS_TABLE.localName : `${tableName}-tenants`;
}

export function localEndpoints(env: NodeJS.ProcessEnv = process.env): LocalEndpoints {
  const port = portFromEnv(env, LOCAL_ENV.port);
  const gateway = (env[LOCAL_ENV.localUrl]?.trim() || `http://127.0.0.1:${port}`).replace(/\/+$/, '');
  const tableName = env[LOCAL_ENV.tableName]?.trim() || TABLE.localName;
  return {
    gateway,
    dynamodb: `http://127.0.0.1:${portFromEnv(env, LOCAL_ENV.dynamoDbPort)}`,
    sqs: `http://127.0.0.1:${portFromEnv(env, LOCAL_ENV.sqsPort)}`,
    tableName,
    tenantsTableName: localTenantsTableName(env, tableName),
  };
}

/** Where local functions reach Cronofy: CRONOFY_API_URL, else the fake on CRONOFY_API_PORT (3100). */
export function localCronofyApiUrl(env: NodeJS.ProcessEnv): string {
  const url = env[LOCAL_ENV.cronofyApiUrl];
  if (url) return url;
  return `http://127.0.0.1:${portFromEnv(env, LOCAL_ENV.cronofyApiPort)}`;
}

const SERVICES = {
  gateway: { label: 'the gateway', variable: `${LOCAL_ENV.port} (or ${LOCAL_ENV.localUrl})` },
  dynamodb: { label: 'DynamoDB Local', variable: LOCAL_ENV.dynamoDbPort },
  sqs: { label: 'the SQS emulator', variable: LOCAL_ENV.sqsPort },
} as const;
export type LocalService = keyof typeof SERVICES;

/** Local mode is not where the tool looked: says where it looked and how to start it. */
export class LocalModeNotRunning extends Error {
  override readonly name = 'LocalModeNotRunning';
  constructor(
    readonly service: LocalService,
    readonly endpoint: string,
  ) {
    const { label, variable } = SERVICES[service];
    super(
      `local mode is not running at ${endpoint} (${label}); start it with npm start. ` +
        `If it runs on other ports, give this command the same ${variable} as npm start.`,
    );
  }
}

/** A connection refused anywhere in an error's chain (fetch's `cause`, the SDK's wrapped errors, AggregateError). */
export function isConnectionRefused(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const e = error as { code?: unknown; cause?: unknown; errors?: unknown; message?: unknown };
  if (e.code === 'ECONNREFUSED') return true;
  if (typeof e.message === 'string' && e.message.includes('ECONNREFUSED')) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isConnectionRefused(inner, depth + 1))) return true;
  return isConnectionRefused(e.cause, depth + 1);
}

/** Whether something accepts TCP connections at an http:// URL's host and port. */
export function listening(url: string, timeoutMs = 1000): Promise<boolean> {
  const { hostname, port, protocol } = new URL(url);
  const portNumber = Number(port || (protocol === 'https:' ? 443 : 80));
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.connect(portNumber, hostname.replace(/^\[|\]$/g, ''));
  });
}

/** Fail with LocalModeNotRunning, naming the first of `services` that nothing listens for. */
export async function requireLocalMode(
  endpoints: LocalEndpoints,
  services: readonly LocalService[],
): Promise<void> {
  for (const service of services) {
    const endpoint = endpoints[service];
    if (!(await listening(endpoint))) throw new LocalModeNotRunning(service, endpoint);
  }
}

/** A table the tool looked for in DynamoDB Local and npm start did not create: it was given another name. */
export class LocalTableNotFound extends Error {
  override readonly name = 'LocalTableNotFound';
  constructor(tableName: string, endpoint: string, variables: string) {
    super(
      `table ${tableName} was not found in DynamoDB Local at ${endpoint}: give this command the same ${variables} ` +
        'as npm start (npm start prints it).',
    );
  }
}

/**
 * Fail with LocalTableNotFound, naming the first of `tables` DynamoDB Local does not have: a forgotten TABLE_NAME
 * otherwise surfaces as the SDK's "Cannot do operations on a non-existent table", which names none.
 */
export async function requireLocalTables(
  ddb: DynamoDBClient,
  endpoints: LocalEndpoints,
  tables: readonly ('records' | 'tenants')[],
): Promise<void> {
  for (const table of tables) {
    const [name, variables] =
      table === 'records'
        ? [endpoints.tableName, LOCAL_ENV.tableName]
        : [endpoints.tenantsTableName, `${LOCAL_ENV.tableName} (and ${LOCAL_ENV.tenantsTableName}, if set)`];
    try {
      await ddb.send(new DescribeTableCommand({ TableName: name }));
    } catch (error) {
      if ((error as Error).name === 'ResourceNotFoundException')
        throw new LocalTableNotFound(name, endpoints.dynamodb, variables);
      throw error;
    }
  }
}
