import { tenantStoreFromEnv } from '#shared/aws/tenant-store.ts';
import { ENV, requiredEnv } from '#shared/contract/env.ts';
import { countersLine } from '#shared/core/metrics.ts';
import type { CredentialProvider, Logger, SecretsProvider } from '#shared/core/ports.ts';
import { secretsCredentialProvider } from '#shared/cronofy/credentials.ts';
import { cronofyOAuthFromEnv } from '#shared/cronofy/from-env.ts';
import { tenantCredentialProvider } from '#shared/tenants/credentials.ts';

/**
 * The bearer credentials of the functions that call Cronofy (scheduling-requests, reconcile): a tenant's
 * Organization Connect token (refreshed when due, one refresh per tenant at a time), the secret's credential for
 * a call without a tenant. Undefined when `cronofy.clientId` is not configured: then no tenant can be connected,
 * and the default provider refuses every call for one (`unknown_tenant`).
 */
export function tenantCredentialsFromEnv(
  env: NodeJS.ProcessEnv,
  secrets: SecretsProvider,
  logger: Logger,
  writeMetric: (line: string) => void,
): CredentialProvider | undefined {
  const oauth = cronofyOAuthFromEnv(env, secrets);
  if (!oauth) return undefined;
  const namespace = requiredEnv(env, ENV.metricsNamespace);
  const count = (metric: string) => {
    const line = countersLine({ [metric]: 1 }, new Date(), namespace);
    if (line) writeMetric(line);
  };
  return tenantCredentialProvider({
    fallback: secretsCredentialProvider(secrets),
    store: tenantStoreFromEnv(env),
    oauth,
    clock: () => new Date(),
    logger,
    // The TenantDisconnections alarm counts these; the dashboard's tenants row both.
    onDisconnected: () => count('TenantDisconnections'),
    onRefreshed: () => count('TokenRefreshes'),
  });
}
