import { ENV, wholeNumberEnv } from '../contract/env.ts';
import { DATA_CENTERS, type DataCenter } from '../core/config.ts';
import { UnknownTenantError } from '../core/errors.ts';
import type { CredentialProvider, Logger, SecretsProvider } from '../core/ports.ts';
import type { CronofyApi } from './api.ts';
import { cronofyApiBaseUrl, makeCronofyApi } from './api-client.ts';
import {
  CredentialRejectedError,
  type CronofyApiError,
  CronofyNotFoundError,
  CronofyUnavailableError,
  CronofyValidationError,
} from './api-errors.ts';
import { secretsCredentialProvider } from './credentials.ts';
import type { CronofyOAuth } from './oauth.ts';
import { makeCronofyOAuth } from './oauth-client.ts';
import { type RateLimit, RateLimiter } from './rate-limiter.ts';

/**
 * A function's Cronofy client from its environment: `CRONOFY_DATA_CENTER` (the API host), `CRONOFY_API_URL`
 * (local mode only: the fake), and `CRONOFY_RATE_PER_SECOND` / `CRONOFY_RATE_PER_MINUTE`, this instance's share
 * of the deployment-wide limit (infra/definitions.ts CRONOFY_CALLERS). One limiter per process.
 */

export function rateLimitFromEnv(env: NodeJS.ProcessEnv): RateLimit {
  return {
    perSecond: wholeNumberEnv(env, ENV.cronofyRatePerSecond, 1, 'must be a whole number ≥ 1'),
    perMinute: wholeNumberEnv(env, ENV.cronofyRatePerMinute, 1, 'must be a whole number ≥ 1'),
  };
}

export function dataCenterFromEnv(env: NodeJS.ProcessEnv): DataCenter {
  const value = env[ENV.cronofyDataCenter] ?? '';
  if (!(DATA_CENTERS as readonly string[]).includes(value))
    throw new Error(`${ENV.cronofyDataCenter} must be one of ${DATA_CENTERS.join(', ')}`);
  return value as DataCenter;
}

export interface CronofyClientOptions {
  dataCenter: DataCenter;
  /** Local mode's fake; absent in AWS. */
  apiUrl?: string;
  rateLimit: RateLimit;
  secrets: SecretsProvider;
  /**
   * Whose bearer credential each call uses: a provider of per-tenant Organization Connect tokens (and, for a call
   * without a tenant, the secret's). Default: the secret's alone, which knows no tenant.
   */
  credentials?: CredentialProvider;
  logger: Logger;
  fetch?: typeof globalThis.fetch;
}

export function cronofyClient(options: CronofyClientOptions): CronofyApi {
  return makeCronofyApi({
    baseUrl: cronofyApiBaseUrl(options.dataCenter, options.apiUrl),
    credentials: options.credentials ?? withoutTenants(secretsCredentialProvider(options.secrets)),
    limiter: new RateLimiter({ limit: options.rateLimit }),
    logger: options.logger,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

/**
 * Without a tenant registry no tenant is known: a call for one is refused (`unknown_tenant`) rather than made
 * with the deployment's own credential, in its own Organizational Unit.
 */
function withoutTenants(provider: CredentialProvider): CredentialProvider {
  return {
    async get(tenant) {
      if (tenant !== undefined) throw new UnknownTenantError(tenant);
      return provider.get();
    },
  };
}

export function cronofyClientFromEnv(
  env: NodeJS.ProcessEnv,
  secrets: SecretsProvider,
  logger: Logger,
  credentials?: CredentialProvider,
): CronofyApi {
  return cronofyClient({
    dataCenter: dataCenterFromEnv(env),
    ...(env[ENV.cronofyApiUrl] ? { apiUrl: env[ENV.cronofyApiUrl] } : {}),
    rateLimit: rateLimitFromEnv(env),
    secrets,
    ...(credentials ? { credentials } : {}),
    logger,
  });
}

/**
 * The metric a Cronofy failure counts under (alarms: infra/constructs/monitoring.ts). A tenant's token refused
 * (after its refresh) is that tenant's to reconnect, not the secret's `api_credential`: counted apart.
 */
export function cronofyErrorMetric(error: CronofyApiError, tenantId?: string): string {
  if (error instanceof CredentialRejectedError)
    return tenantId === undefined ? 'CronofyCredentialRejected' : 'TenantCredentialRejected';
  if (error instanceof CronofyUnavailableError)
    return error.reason === 'rate_limited' || error.reason === 'local_rate_limit'
      ? 'CronofyRateLimited'
      : 'CronofyUnavailable';
  // The caller's mistake (a parameter Cronofy refused, an unknown id): counted, not alarmed.
  if (error instanceof CronofyValidationError || error instanceof CronofyNotFoundError)
    return 'CronofyRejected';
  return 'CronofyErrors';
}

/**
 * Cronofy's token endpoint for Organization Connect (tenants), on the same API host as the calls; undefined
 * when `CRONOFY_CLIENT_ID` (cronofy.clientId) is not set.
 */
export function cronofyOAuthFromEnv(
  env: NodeJS.ProcessEnv,
  secrets: SecretsProvider,
): CronofyOAuth | undefined {
  const clientId = env[ENV.cronofyClientId];
  if (!clientId) return undefined;
  return makeCronofyOAuth({
    baseUrl: cronofyApiBaseUrl(dataCenterFromEnv(env), env[ENV.cronofyApiUrl]),
    clientId,
    secrets,
  });
}
