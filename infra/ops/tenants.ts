import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isTenantId } from '#shared/contract/tenants.ts';

/**
 * `npm run ops -- tenant list|show <tenant_id>`: the tenants table as an operator needs to read it. Fields are
 * taken from an allow-list, so no token, client secret or ciphertext is ever printed, whatever the items hold.
 */

const TENANT_FIELDS = [
  'tenant_id',
  'name',
  'status',
  'client_secrets_count',
  'created_at',
  'updated_at',
  'connected_at',
  'disconnected_at',
  'offboarded_at',
] as const;

export type TenantSummary = Partial<Record<(typeof TENANT_FIELDS)[number], string | number>>;

export interface TenantDetails extends TenantSummary {
  /** The Organization Connect credential, described: never its values. */
  credential?: { access_token_expires_at: string; refresh_in_progress: boolean };
}

export class TenantNotFound extends Error {
  override readonly name = 'TenantNotFound';
}

function summary(item: Record<string, unknown>): TenantSummary {
  const picked: TenantSummary = {};
  for (const field of TENANT_FIELDS) {
    const value = item[field];
    if (typeof value === 'string' || typeof value === 'number') picked[field] = value;
  }
  return picked;
}

/** Every tenant, sorted by id (a scan: the table holds a few items per tenant). */
export async function listTenantItems(ddb: DynamoDBClient, tableName: string): Promise<TenantSummary[]> {
  const tenants: TenantSummary[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await ddb.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: 'entity = :tenant',
        ExpressionAttributeValues: { ':tenant': { S: 'tenant' } },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    tenants.push(...(page.Items ?? []).map((item) => summary(unmarshall(item))));
    start = page.LastEvaluatedKey;
  } while (start);
  return tenants.sort((a, b) => String(a.tenant_id).localeCompare(String(b.tenant_id)));
}

export async function showTenant(
  ddb: DynamoDBClient,
  tableName: string,
  tenantId: string,
): Promise<TenantDetails> {
  if (!isTenantId(tenantId)) throw new TenantNotFound(`not a tenant id: "${String(tenantId).slice(0, 64)}"`);
  const read = (pk: string) =>
    ddb.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: pk } }, ConsistentRead: true }));
  const [tenant, credential] = await Promise.all([
    read(`tenant#${tenantId}`),
    read(`credential#${tenantId}`),
  ]);
  if (!tenant.Item) throw new TenantNotFound(`no tenant ${tenantId} in ${tableName}`);
  const details: TenantDetails = summary(unmarshall(tenant.Item));
  if (credential.Item) {
    const value = unmarshall(credential.Item);
    details.credential = {
      access_token_expires_at: new Date(Number(value.access_token_expires_at)).toISOString(),
      refresh_in_progress: typeof value.lease_until === 'number' && value.lease_until > Date.now(),
    };
  }
  return details;
}
