/**
 * The contract between infra and code for environment variables: their names, which function reads which, and
 * the readers each function's `depsFromEnv` uses so that a missing or bad value fails at cold start naming the
 * variable (no silent defaults). The CDK `bind*` helpers (infra/constructs/bindings.ts) and infra/stack.ts take
 * their names from here.
 *
 * Hand-written checks rather than zod: every function imports this module, and the ingest bundle has no zod.
 */

export const ENV = {
  tableName: 'TABLE_NAME',
  queueUrl: 'QUEUE_URL',
  secretArn: 'SECRET_ARN',
  secretsCacheSeconds: 'SECRETS_CACHE_SECONDS',
  cronofyDataCenter: 'CRONOFY_DATA_CENTER',
  /** Local mode only: the Cronofy fake. Never set in AWS. */
  cronofyApiUrl: 'CRONOFY_API_URL',
  cronofyRatePerSecond: 'CRONOFY_RATE_PER_SECOND',
  cronofyRatePerMinute: 'CRONOFY_RATE_PER_MINUTE',
  metricsNamespace: 'METRICS_NAMESPACE',
  notificationRetentionDays: 'NOTIFICATION_RETENTION_DAYS',
  publicConfig: 'CRONOFY_PUBLIC_CONFIG',
  reconcileMaxCalls: 'RECONCILE_MAX_CALLS',
  /** The custom event bus the stream function puts downstream events on. */
  eventBusName: 'EVENT_BUS_NAME',
  /** The tenants table (shared/aws/tenant-store.ts) and the KMS key its credentials are encrypted with. */
  tenantsTableName: 'TENANTS_TABLE_NAME',
  tenantsKeyArn: 'TENANTS_KEY_ARN',
  /** The HTTP API's base URL (no trailing slash): Organization Connect's redirect_uri and tenants' notification URLs. */
  apiUrl: 'API_URL',
  /** Organization Connect: the application's client id and where the customer admin's browser goes afterwards. */
  cronofyClientId: 'CRONOFY_CLIENT_ID',
  onboardingSuccessUrl: 'ONBOARDING_SUCCESS_URL',
  onboardingErrorUrl: 'ONBOARDING_ERROR_URL',
  /** The threshold of our logger (shared/core/logger.ts), set for every function (infra/constructs/app-function.ts). */
  logLevel: 'LOG_LEVEL',
} as const;
export type EnvName = (typeof ENV)[keyof typeof ENV];

const SECRET = [ENV.secretArn, ENV.secretsCacheSeconds] as const;
const TENANTS = [ENV.tenantsTableName, ENV.tenantsKeyArn] as const;
const CRONOFY = [ENV.cronofyDataCenter, ENV.cronofyRatePerSecond, ENV.cronofyRatePerMinute] as const;

/**
 * The variables each function reads (all set by the stack; CRONOFY_API_URL, local mode only, is not listed).
 * Built by a pure call so bundles that never read it leave it out (esbuild keeps array spreads otherwise).
 */
export const FUNCTION_ENV = /* @__PURE__ */ (() =>
  ({
    ingest: [ENV.queueUrl, ...SECRET, ...TENANTS],
    worker: [ENV.tableName, ENV.metricsNamespace, ENV.notificationRetentionDays],
    redirects: [ENV.tableName, ...SECRET, ENV.publicConfig],
    tokens: [...SECRET],
    // CRONOFY_CLIENT_ID is set only when configured (then calls for a tenant use its Organization Connect token).
    schedulingRequests: [ENV.tableName, ...SECRET, ...CRONOFY, ENV.metricsNamespace, ...TENANTS],
    reconcile: [
      ENV.tableName,
      ...SECRET,
      ...CRONOFY,
      ENV.metricsNamespace,
      ENV.reconcileMaxCalls,
      ...TENANTS,
    ],
    events: [ENV.eventBusName],
    // CRONOFY_CLIENT_ID, ONBOARDING_SUCCESS_URL and ONBOARDING_ERROR_URL are set only when configured.
    tenants: [...TENANTS, ENV.apiUrl, ...SECRET, ENV.cronofyDataCenter],
  }) as const satisfies Record<string, readonly EnvName[]>)();

export type Env = Readonly<Record<string, string | undefined>>;

/** A variable that must be set and not empty. */
export function requiredEnv(env: Env, name: EnvName): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** A whole number of at least `min`; `message` says what it means (the variable's name comes first). */
export function wholeNumberEnv(env: Env, name: EnvName, min: number, message: string): number {
  const text = env[name];
  const value = Number(text);
  if (text === undefined || text === '' || !Number.isInteger(value) || value < min)
    throw new Error(`${name} ${message}`);
  return value;
}

/** The secret a function reads (`SECRET_ARN`) and how long it keeps it (`SECRETS_CACHE_SECONDS`): bindSecret sets both. */
export function secretFromEnv(env: Env): { secretArn: string; cacheSeconds: number } {
  return {
    secretArn: requiredEnv(env, ENV.secretArn),
    cacheSeconds: wholeNumberEnv(env, ENV.secretsCacheSeconds, 0, 'must be a whole number of seconds'),
  };
}
