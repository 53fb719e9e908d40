import { ENV, type Env, requiredEnv } from '../contract/env.ts';
import type { Cipher, TenantDirectory, TenantStore } from '../core/ports.ts';
import { type AwsJsonCall, awsJsonCall } from './aws-json.ts';
import { KmsCipher, kmsCalls } from './kms-cipher.ts';

/**
 * The TenantDirectory of the tenant notification route (`POST /cronofy/notifications/{tenant_id}`): a tenant's
 * decrypted client secrets, `undefined` for a tenant that is unknown or offboarded. The ingest function reads
 * them with one signed `GetItem` of DynamoDB's JSON API rather than the DynamoDB SDK client: the client would
 * add ~120 KB to the ingest bundle (cold start) for this one call.
 */

type AttributeMap = Record<string, { S?: string } | undefined>;

/** The client secrets of a tenant item (`client_secrets`, `offboarded_at`), as both adapters read them. */
export async function clientSecretsOf(
  item: AttributeMap | undefined,
  tenantId: string,
  cipher: Cipher,
): Promise<readonly string[] | undefined> {
  if (!item || item.offboarded_at) return undefined;
  const ciphertext = item.client_secrets?.S;
  if (ciphertext === undefined) return [];
  return JSON.parse(
    await cipher.decrypt(ciphertext, { tenant_id: tenantId, field: 'client_secrets' }),
  ) as string[];
}

/** `tenantClientSecrets` over DynamoDB's JSON API (an eventually consistent read: rotations wait the cache anyway). */
export function leanClientSecretsReader(
  call: AwsJsonCall,
  tableName: string,
  cipher: Cipher,
): Pick<TenantStore, 'tenantClientSecrets'> {
  return {
    async tenantClientSecrets(tenantId) {
      const answer = await call('GetItem', {
        TableName: tableName,
        Key: { pk: { S: `tenant#${tenantId}` } },
        ProjectionExpression: 'client_secrets, offboarded_at',
      });
      return clientSecretsOf(answer.Item as AttributeMap | undefined, tenantId, cipher);
    },
  };
}

/**
 * Client secrets kept for `cacheMs` in this warm function. An unknown tenant is kept too, for `unknownCacheMs`
 * (shorter), so a flood of made-up ids costs one read each per period, not one per request, and a tenant
 * registered after something probed its URL is heard within that time. A rotation or an offboarding reaches warm
 * functions within `cacheMs`.
 */
export function tenantDirectory(
  store: Pick<TenantStore, 'tenantClientSecrets'>,
  options: { cacheMs?: number; unknownCacheMs?: number; now?: () => number; maxEntries?: number } = {},
): TenantDirectory {
  const cacheMs = options.cacheMs ?? 300_000;
  const unknownCacheMs = Math.min(options.unknownCacheMs ?? 30_000, cacheMs);
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 1_000;
  const cache = new Map<string, { value: readonly string[] | undefined; until: number }>();
  return {
    async clientSecrets(tenantId) {
      const hit = cache.get(tenantId);
      if (hit && hit.until > now()) return hit.value;
      const value = await store.tenantClientSecrets(tenantId);
      // Bounded: the oldest entry goes first (Map keeps insertion order).
      cache.delete(tenantId);
      if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
      cache.set(tenantId, { value, until: now() + (value === undefined ? unknownCacheMs : cacheMs) });
      return value;
    },
  };
}

/**
 * The ingest function's TenantDirectory: the tenants table (`TENANTS_TABLE_NAME`), decrypted with the stack's
 * key (`TENANTS_KEY_ARN`, whose ARN names the region of both). `endpoint` and `credentials` are for tests
 * against DynamoDB Local.
 */
export function tenantDirectoryFromEnv(
  env: Env,
  options: {
    dynamoEndpoint?: string;
    cipher?: Cipher;
    credentials?: { accessKeyId: string; secretAccessKey: string };
  } = {},
): TenantDirectory {
  const keyArn = requiredEnv(env, ENV.tenantsKeyArn);
  const region = keyArn.split(':')[3];
  if (!region) throw new Error(`${ENV.tenantsKeyArn} must be a KMS key ARN`);
  const call = awsJsonCall({
    service: 'dynamodb',
    region,
    targetPrefix: 'DynamoDB_20120810',
    contentType: 'application/x-amz-json-1.0',
    ...(options.dynamoEndpoint ? { endpoint: options.dynamoEndpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  const cipher = options.cipher ?? new KmsCipher(kmsCalls(region), keyArn);
  return tenantDirectory(leanClientSecretsReader(call, requiredEnv(env, ENV.tenantsTableName), cipher));
}
