import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type UpdateItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { ENV, type Env, requiredEnv } from '../contract/env.ts';
import type { TenantStatus } from '../contract/tenants.ts';
import { InvalidRequestError } from '../core/errors.ts';
import type {
  Cipher,
  ConnectConditions,
  StoredTokens,
  TenantCredential,
  TenantItem,
  TenantStore,
} from '../core/ports.ts';
import { KmsCipher, kmsCalls } from './kms-cipher.ts';
import { clientSecretsOf } from './tenant-directory.ts';

/**
 * DynamoDB adapter of TenantStore, on the tenants table: a table of its own, without a stream, so no tenant
 * item, credential or OAuth state ever reaches the records table's stream (the downstream contract). Items,
 * one partition key each:
 * - `tenant#{tenant_id}`: name, status, times, `client_secrets` (one ciphertext of the JSON list) and its count;
 * - `credential#{tenant_id}`: `access_token`, `refresh_token` (ciphertexts), `access_token_expires_at` (ms),
 *   `generation` (one more per refresh), `connection_id` (one per consent, kept by its refreshes), `ou_sub` (the
 *   OU's id from Cronofy's token answer, when it carried one: an id, not a secret) and the refresh lease
 *   (`lease_token`, `lease_until`);
 * - `oauth_state#{sha256 of the state}`: `tenant_id`, `expires_at` (epoch seconds, the table's TTL attribute),
 *   `issued_at` (epoch seconds) and `issued_at_ms` (milliseconds; absent on states written before it was).
 * Secrets are encrypted with the Cipher before they leave the process, each bound to its tenant and field.
 */

const tenantKey = (id: string) => ({ pk: { S: `tenant#${id}` } });
const credentialKey = (id: string) => ({ pk: { S: `credential#${id}` } });
const stateKey = (hash: string) => ({ pk: { S: `oauth_state#${hash}` } });

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof TransactionCanceledException &&
      (error.CancellationReasons ?? []).some((reason) => reason.Code === 'ConditionalCheckFailed'))
  );
}

/**
 * A conditional transaction that another one on the same items overtook (`TransactionConflict`, not retried by the
 * SDK): to a writer conditional on what it read, the items moved under it like a failed condition; it reads again.
 */
function isOvertaken(error: unknown): boolean {
  return (
    isConditionFailure(error) ||
    (error instanceof TransactionCanceledException &&
      (error.CancellationReasons ?? []).some((reason) => reason.Code === 'TransactionConflict'))
  );
}

function toTenant(item: Record<string, AttributeValue>): TenantItem {
  const value = unmarshall(item);
  return {
    tenantId: String(value.tenant_id),
    name: String(value.name ?? ''),
    status: value.status as TenantStatus,
    clientSecretsCount: Number(value.client_secrets_count ?? 0),
    createdAt: String(value.created_at),
    updatedAt: String(value.updated_at),
    ...(value.connected_at ? { connectedAt: String(value.connected_at) } : {}),
    ...(value.disconnected_at ? { disconnectedAt: String(value.disconnected_at) } : {}),
    ...(value.offboarded_at ? { offboardedAt: String(value.offboarded_at) } : {}),
    ...(value.last_offboarded_at ? { lastOffboardedAt: String(value.last_offboarded_at) } : {}),
  };
}

/** The condition that the credential item is still at the generation read (`undefined`: that there is none). */
function credentialCondition(expected: { generation: number | undefined } | undefined) {
  if (expected === undefined) return {};
  if (expected.generation === undefined) return { ConditionExpression: 'attribute_not_exists(pk)' };
  return {
    ConditionExpression: 'generation = :generation',
    ExpressionAttributeValues: { ':generation': { N: String(expected.generation) } },
  };
}

/**
 * A new connection's generation: the clock (in ms, far above the refreshes an earlier connection counted), but
 * always above the credential it replaces.
 */
export function connectionGeneration(now: string, { expected, after }: ConnectConditions): number {
  return Math.max(Date.parse(now), (expected?.generation ?? -1) + 1, (after ?? -1) + 1);
}

const PK_PATTERN = /^(?:(?:tenant|credential)#[A-Za-z0-9._-]{1,64}|oauth_state#[0-9a-f]{64})$/;

/** A list cursor is the key the scan stopped at, base64url: opaque to callers, checked when it comes back. */
function encodeCursor(pk: string): string {
  return Buffer.from(pk, 'utf8').toString('base64url');
}
function decodeCursor(cursor: string): string {
  const pk = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!PK_PATTERN.test(pk)) throw new InvalidRequestError('cursor is not one this API returned');
  return pk;
}

export class DynamoTenantStore implements TenantStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly cipher: Cipher,
  ) {}

  async putTenant(
    tenantId: string,
    change: { name?: string; clientSecrets?: readonly string[] },
    now: string,
  ): Promise<{ tenant: TenantItem; created: boolean } | undefined> {
    const sets = [
      'entity = :entity',
      'tenant_id = :id',
      'updated_at = :now',
      'created_at = if_not_exists(created_at, :now)',
      '#status = if_not_exists(#status, :registered)',
      'client_secrets_count = if_not_exists(client_secrets_count, :zero)',
    ];
    const removes = ['offboarded_at'];
    const values: Record<string, unknown> = {
      ':entity': 'tenant',
      ':id': tenantId,
      ':now': now,
      ':registered': 'registered',
      ':zero': 0,
    };
    if (change.name !== undefined) {
      sets.push('#name = :name');
      values[':name'] = change.name;
    }
    if (change.clientSecrets !== undefined) {
      sets.push('client_secrets_count = :count');
      sets.splice(sets.indexOf('client_secrets_count = if_not_exists(client_secrets_count, :zero)'), 1);
      delete values[':zero'];
      values[':count'] = change.clientSecrets.length;
      if (change.clientSecrets.length > 0) {
        sets.push('client_secrets = :secrets');
        values[':secrets'] = await this.cipher.encrypt(JSON.stringify(change.clientSecrets), {
          tenant_id: tenantId,
          field: 'client_secrets',
        });
      } else removes.push('client_secrets');
    }
    const update = new UpdateItemCommand({
      TableName: this.tableName,
      Key: tenantKey(tenantId),
      UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
      // A tenant is created with a name: without one, only an existing tenant is updated.
      ...(change.name === undefined ? { ConditionExpression: 'attribute_exists(pk)' } : {}),
      ExpressionAttributeNames: {
        '#status': 'status',
        ...(change.name !== undefined ? { '#name': 'name' } : {}),
      },
      ExpressionAttributeValues: marshall(values),
      ReturnValues: 'ALL_OLD',
    });
    let answer: UpdateItemCommandOutput;
    try {
      answer = await this.client.send(update);
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
    const tenant = await this.getTenant(tenantId);
    if (!tenant) throw new Error('tenant vanished after it was written');
    return { tenant, created: answer.Attributes === undefined };
  }

  async getTenant(tenantId: string): Promise<TenantItem | undefined> {
    const answer = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: tenantKey(tenantId), ConsistentRead: true }),
    );
    return answer.Item ? toTenant(answer.Item) : undefined;
  }

  /**
   * A scan of tenant items, in pages of up to `limit` (a page may hold fewer: DynamoDB applies the filter after
   * reading). The table holds a few items per tenant, so a page reads little more than its tenants.
   */
  async listTenants(
    cursor: string | undefined,
    limit: number,
  ): Promise<{ tenants: TenantItem[]; cursor?: string }> {
    const answer = await this.client.send(
      new ScanCommand({
        TableName: this.tableName,
        Limit: limit * 3,
        FilterExpression: 'entity = :tenant',
        ExpressionAttributeValues: { ':tenant': { S: 'tenant' } },
        ...(cursor === undefined ? {} : { ExclusiveStartKey: { pk: { S: decodeCursor(cursor) } } }),
      }),
    );
    const tenants = (answer.Items ?? []).map(toTenant);
    // Resume after the last item read, whatever kind it was.
    const last = answer.LastEvaluatedKey?.pk?.S;
    return { tenants, ...(last === undefined ? {} : { cursor: encodeCursor(last) }) };
  }

  /** Tenants per status, for the dashboard (a scan of the status attribute only: a few read units per 1,000). */
  async countTenants(): Promise<Record<TenantStatus, number>> {
    const counts: Record<TenantStatus, number> = { registered: 0, connected: 0, disconnected: 0 };
    let start: Record<string, AttributeValue> | undefined;
    do {
      const answer = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'entity = :tenant',
          ProjectionExpression: '#status',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':tenant': { S: 'tenant' } },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of answer.Items ?? []) {
        const status = item.status?.S as TenantStatus | undefined;
        if (status !== undefined && status in counts) counts[status] += 1;
      }
      start = answer.LastEvaluatedKey;
    } while (start);
    return counts;
  }

  async tenantClientSecrets(tenantId: string): Promise<readonly string[] | undefined> {
    const answer = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: tenantKey(tenantId),
        ProjectionExpression: 'client_secrets, offboarded_at',
      }),
    );
    return clientSecretsOf(answer.Item, tenantId, this.cipher);
  }

  async putOAuthState(
    stateHash: string,
    tenantId: string,
    expiresAt: number,
    issuedAt: number,
  ): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall({
          pk: `oauth_state#${stateHash}`,
          entity: 'oauth_state',
          tenant_id: tenantId,
          expires_at: expiresAt,
          // Seconds as before (a function of the previous version reads them during a deploy), and milliseconds:
          // an offboarding and a registration within the second before a state is handed out must not end it.
          issued_at: Math.floor(issuedAt / 1000),
          issued_at_ms: issuedAt,
        }),
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async takeOAuthState(
    stateHash: string,
    nowSeconds: number,
  ): Promise<{ tenantId: string; issuedAt: number } | undefined> {
    try {
      // One DeleteItem decides: of two callbacks with the same state, exactly one gets the tenant.
      const answer = await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: stateKey(stateHash),
          ConditionExpression: 'attribute_exists(pk) AND expires_at > :now',
          ExpressionAttributeValues: { ':now': { N: String(nowSeconds) } },
          ReturnValues: 'ALL_OLD',
        }),
      );
      const tenantId = answer.Attributes?.tenant_id?.S;
      if (tenantId === undefined) return undefined;
      const ms = answer.Attributes?.issued_at_ms?.N;
      return {
        tenantId,
        issuedAt: ms === undefined ? Number(answer.Attributes?.issued_at?.N ?? 0) * 1000 : Number(ms),
      };
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  private async encryptTokens(
    tenantId: string,
    tokens: { accessToken: string; refreshToken: string },
  ): Promise<{ access: string; refresh: string }> {
    const [access, refresh] = await Promise.all([
      this.cipher.encrypt(tokens.accessToken, { tenant_id: tenantId, field: 'access_token' }),
      this.cipher.encrypt(tokens.refreshToken, { tenant_id: tenantId, field: 'refresh_token' }),
    ]);
    return { access, refresh };
  }

  async connect(
    tenantId: string,
    tokens: StoredTokens,
    now: string,
    conditions: ConnectConditions = {},
  ): Promise<boolean> {
    const { access, refresh } = await this.encryptTokens(tenantId, tokens);
    const { stateIssuedAt } = conditions;
    try {
      await this.client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: tenantKey(tenantId),
                UpdateExpression:
                  'SET #status = :connected, connected_at = :now, updated_at = :now REMOVE disconnected_at',
                // An offboarding after the connect URL was handed out wins: its state must not reconnect it, even
                // once the tenant is registered again (ISO 8601 times of one format compare as strings).
                ConditionExpression: `attribute_exists(pk) AND attribute_not_exists(offboarded_at)${
                  stateIssuedAt === undefined
                    ? ''
                    : ' AND (attribute_not_exists(last_offboarded_at) OR last_offboarded_at < :issued)'
                }`,
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: marshall({
                  ':connected': 'connected',
                  ':now': now,
                  ...(stateIssuedAt === undefined
                    ? {}
                    : { ':issued': new Date(stateIssuedAt).toISOString() }),
                }),
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: marshall({
                  pk: `credential#${tenantId}`,
                  entity: 'credential',
                  tenant_id: tenantId,
                  access_token: access,
                  refresh_token: refresh,
                  access_token_expires_at: tokens.expiresAt,
                  // Above any generation of an earlier connection, so a cache of it can never pass for this one.
                  generation: connectionGeneration(now, conditions),
                  connection_id: randomUUID(),
                  ...(tokens.sub === undefined ? {} : { ou_sub: tokens.sub }),
                }),
                ...credentialCondition(conditions.expected),
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (conditions.expected === undefined ? isConditionFailure(error) : isOvertaken(error)) return false;
      throw error;
    }
  }

  async getCredential(tenantId: string): Promise<TenantCredential | undefined> {
    const answer = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: credentialKey(tenantId), ConsistentRead: true }),
    );
    if (!answer.Item) return undefined;
    const value = unmarshall(answer.Item);
    const [accessToken, refreshToken] = await Promise.all([
      this.cipher.decrypt(String(value.access_token), { tenant_id: tenantId, field: 'access_token' }),
      this.cipher.decrypt(String(value.refresh_token), { tenant_id: tenantId, field: 'refresh_token' }),
    ]);
    return {
      tenantId,
      accessToken,
      refreshToken,
      expiresAt: Number(value.access_token_expires_at),
      generation: Number(value.generation),
      ...(value.connection_id === undefined ? {} : { connectionId: String(value.connection_id) }),
      ...(typeof value.ou_sub === 'string' ? { sub: value.ou_sub } : {}),
      ...(value.lease_until === undefined ? {} : { leaseUntil: Number(value.lease_until) }),
      ...(value.refused_once === true ? { refusedOnce: true } : {}),
    };
  }

  async credentialGeneration(tenantId: string): Promise<number | undefined> {
    const answer = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: credentialKey(tenantId),
        ConsistentRead: true,
        ProjectionExpression: 'generation',
      }),
    );
    const generation = answer.Item?.generation?.N;
    return generation === undefined ? undefined : Number(generation);
  }

  async takeRefreshLease(
    tenantId: string,
    generation: number,
    leaseToken: string,
    nowMs: number,
    leaseUntil: number,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: credentialKey(tenantId),
          UpdateExpression: 'SET lease_token = :token, lease_until = :until',
          ConditionExpression:
            'generation = :generation AND (attribute_not_exists(lease_until) OR lease_until < :now)',
          ExpressionAttributeValues: marshall({
            ':token': leaseToken,
            ':until': leaseUntil,
            ':generation': generation,
            ':now': nowMs,
          }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async saveRefreshed(tenantId: string, generation: number, tokens: StoredTokens): Promise<boolean> {
    const { access, refresh } = await this.encryptTokens(tenantId, tokens);
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: credentialKey(tenantId),
          UpdateExpression: `SET access_token = :access, refresh_token = :refresh, access_token_expires_at = :expires, generation = generation + :one${
            tokens.sub === undefined ? '' : ', ou_sub = :sub'
          } REMOVE lease_token, lease_until, refused_once`,
          // The generation, not the lease: a refresher that outlived its lease still keeps Cronofy's answer.
          ConditionExpression: 'generation = :generation',
          ExpressionAttributeValues: marshall({
            ':access': access,
            ':refresh': refresh,
            ':expires': tokens.expiresAt,
            ':one': 1,
            ':generation': generation,
            ...(tokens.sub === undefined ? {} : { ':sub': tokens.sub }),
          }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async deferRefusal(tenantId: string, leaseToken: string, leaseUntil: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: credentialKey(tenantId),
          UpdateExpression: 'SET refused_once = :true, lease_until = :until',
          ConditionExpression: 'lease_token = :token',
          ExpressionAttributeValues: marshall({ ':true': true, ':until': leaseUntil, ':token': leaseToken }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async releaseRefreshLease(tenantId: string, leaseToken: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: credentialKey(tenantId),
          UpdateExpression: 'REMOVE lease_token, lease_until',
          ConditionExpression: 'lease_token = :token',
          ExpressionAttributeValues: { ':token': { S: leaseToken } },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async disconnect(tenantId: string, leaseToken: string, now: string): Promise<boolean> {
    try {
      await this.client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Delete: {
                TableName: this.tableName,
                Key: credentialKey(tenantId),
                ConditionExpression: 'lease_token = :token',
                ExpressionAttributeValues: { ':token': { S: leaseToken } },
              },
            },
            this.markDisconnected(tenantId, now, false),
          ],
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async offboard(
    tenantId: string,
    now: string,
    expected?: { generation: number | undefined },
  ): Promise<boolean> {
    try {
      await this.client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Delete: {
                TableName: this.tableName,
                Key: credentialKey(tenantId),
                ...credentialCondition(expected),
              },
            },
            this.markDisconnected(tenantId, now, true, expected !== undefined),
          ],
        }),
      );
      return true;
    } catch (error) {
      // The tenant item exists (checked before): the credential moved, or another offboarding came first (or is
      // in progress: read again).
      if (expected !== undefined && isOvertaken(error)) return false;
      throw error;
    }
  }

  private markDisconnected(tenantId: string, now: string, offboard: boolean, onlyOnce = false) {
    return {
      Update: {
        TableName: this.tableName,
        Key: tenantKey(tenantId),
        UpdateExpression: offboard
          ? 'SET #status = :disconnected, disconnected_at = :now, updated_at = :now, offboarded_at = :now, last_offboarded_at = :now, client_secrets_count = :zero REMOVE client_secrets'
          : 'SET #status = :disconnected, disconnected_at = :now, updated_at = :now',
        ConditionExpression: onlyOnce
          ? 'attribute_exists(pk) AND attribute_not_exists(offboarded_at)'
          : 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: marshall({
          ':disconnected': 'disconnected',
          ':now': now,
          ...(offboard ? { ':zero': 0 } : {}),
        }),
      },
    };
  }
}

/**
 * The tenants table of a deployed function (`TENANTS_TABLE_NAME`), its secrets encrypted with the stack's KMS key
 * (`TENANTS_KEY_ARN`) in the key's region. (The ingest function's TenantDirectory is the leaner
 * tenantDirectoryFromEnv of tenant-directory.ts.)
 */
export function tenantStoreFromEnv(
  env: Env,
  client: DynamoDBClient = new DynamoDBClient({
    requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 },
  }),
): DynamoTenantStore {
  const keyArn = requiredEnv(env, ENV.tenantsKeyArn);
  // The key's own region: the ARN says it (arn:aws:kms:<region>:…), whatever AWS_REGION is.
  const region = keyArn.split(':')[3];
  if (!region) throw new Error(`${ENV.tenantsKeyArn} must be a KMS key ARN`);
  return new DynamoTenantStore(
    client,
    requiredEnv(env, ENV.tenantsTableName),
    new KmsCipher(kmsCalls(region), keyArn),
  );
}
