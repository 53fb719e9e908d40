import { Socket } from 'node:net';
import { TABLE } from '../definitions.ts';
import { portFromEnv } from './config.ts';

/**
 * The one way every local tool (`npm run notify`, `sim`, `ops`, `smoke`) finds local mode: the variables
 * `npm start` reads, with the same defaults. Run a tool with the same PORT, DYNAMODB_PORT, SQS_PORT and
 * TABLE_NAME as `npm start` and it finds the running stack; LOCAL_URL overrides the gateway's URL when it is
 * not http://127.0.0.1:$PORT (a proxy, another machine).
 */

export const DEFAULT_PORTS = {
  PORT: 3000,
  DYNAMODB_PORT: 8000,
  SQS_PORT: 9324,
  CRONOFY_API_PORT: 3100,
} as const;

export interface LocalEndpoints {
  /** The gateway, e.g. http://127.0.0.1:3000 (no trailing slash). */
  gateway: string;
  dynamodb: string;
  sqs: string;
  tableName: string;
}

export function localEndpoints(env: NodeJS.ProcessEnv = process.env): LocalEndpoints {
  const port = portFromEnv(env, 'PORT', DEFAULT_PORTS.PORT);
  const gateway = (env.LOCAL_URL?.trim() || `http://127.0.0.1:${port}`).replace(/\/+$/, '');
  return {
    gateway,
    dynamodb: `http://127.0.0.1:${portFromEnv(env, 'DYNAMODB_PORT', DEFAULT_PORTS.DYNAMODB_PORT)}`,
    sqs: `http://127.0.0.1:${portFromEnv(env, 'SQS_PORT', DEFAULT_PORTS.SQS_PORT)}`,
    tableName: env.TABLE_NAME?.trim() || TABLE.localName,
  };
}

/**
 * The variables another terminal needs to reach a stack started with these ports and table, e.g.
 * `PORT=3001 DYNAMODB_PORT=8001 ` (empty when everything is at its default).
 */
export function envPrefix(settings: {
  port: number;
  dynamoDbPort: number;
  sqsPort: number;
  tableName: string;
  cronofyApiPort?: number;
}): string {
  const pairs: [string, string | number, string | number][] = [
    ['PORT', settings.port, DEFAULT_PORTS.PORT],
    ['DYNAMODB_PORT', settings.dynamoDbPort, DEFAULT_PORTS.DYNAMODB_PORT],
    ['SQS_PORT', settings.sqsPort, DEFAULT_PORTS.SQS_PORT],
    [
      'CRONOFY_API_PORT',
      settings.cronofyApiPort ?? DEFAULT_PORTS.CRONOFY_API_PORT,
      DEFAULT_PORTS.CRONOFY_API_PORT,
    ],
    ['TABLE_NAME', settings.tableName, TABLE.localName],
  ];
  return pairs
    .filter(([, value, fallback]) => value !== fallback)
    .map(([name, value]) => `${name}=${value} `)
    .join('');
}

const SERVICES = {
  gateway: { label: 'the gateway', variable: 'PORT (or LOCAL_URL)' },
  dynamodb: { label: 'DynamoDB Local', variable: 'DYNAMODB_PORT' },
  sqs: { label: 'the SQS emulator', variable: 'SQS_PORT' },
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
