import { hkdfSync } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LocalAesCipher } from '#shared/aws/kms-cipher.ts';
import { DynamoTenantStore } from '#shared/aws/tenant-store.ts';
import type { Clock, CredentialProvider, Logger, SecretsProvider } from '#shared/core/ports.ts';
import { secretsCredentialProvider } from '#shared/cronofy/credentials.ts';
import { makeCronofyOAuth } from '#shared/cronofy/oauth-client.ts';
import { tenantCredentialProvider } from '#shared/tenants/credentials.ts';
import type { LocalConfig } from './config.ts';

/**
 * Local mode's tenants table as both `npm start` and the operator tools (`npm run ops -- reconcile`, the
 * simulator) read it: each is its own process, and each must decrypt the tokens the other wrote.
 */

/**
 * KMS's stand-in key: `cronofy.local.tenantsKey`, else one derived (HKDF-SHA256) from the first local client
 * secret, the one Organization Connect authenticates with: every process that can refresh a tenant's token
 * (same secret) has the same key, and none is written anywhere.
 */
export function localTenantsKey(local: LocalConfig): Buffer {
  const configured = local.config.local?.tenantsKey;
  if (configured !== undefined) return Buffer.from(configured, 'base64');
  const material = local.secrets.clientSecrets[0] ?? '';
  return Buffer.from(hkdfSync('sha256', material, 'cronofy-local-tenants', 'tenants table key', 32));
}

export function localTenantStore(
  ddb: DynamoDBClient,
  tableName: string,
  local: LocalConfig,
): DynamoTenantStore {
  return new DynamoTenantStore(ddb, tableName, new LocalAesCipher(localTenantsKey(local)));
}

/**
 * The credentials of a function that calls Cronofy (the fake at `apiUrl`): a tenant's Organization Connect token
 * from the local tenants table, refreshed one at a time across processes (the lease is on the table), the
 * secret's credential for a call without a tenant. Undefined without a client id.
 */
export function localTenantCredentials(deps: {
  store: DynamoTenantStore;
  local: LocalConfig;
  secrets: SecretsProvider;
  apiUrl: string;
  clock: Clock;
  logger: Logger;
}): CredentialProvider | undefined {
  const { clientId } = deps.local.config;
  if (!clientId) return undefined;
  return tenantCredentialProvider({
    fallback: secretsCredentialProvider(deps.secrets),
    store: deps.store,
    oauth: makeCronofyOAuth({ baseUrl: deps.apiUrl, clientId, secrets: deps.secrets }),
    clock: deps.clock,
    logger: deps.logger,
  });
}
