import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { ENV } from '#shared/contract/env.ts';
import type { AppFunction } from './app-function.ts';

/**
 * Grant and wire in one call: each helper gives a function exactly the access its code needs to a resource
 * AND sets the environment variable the code reads to find that resource (shared/aws/*, functions/*), so a
 * function can never know about a resource it may not use, or be allowed a resource it cannot find.
 */

/** DynamoDB actions per use of the table; each list is what the code in shared/aws/dynamo-store.ts calls. */
export const TABLE_ACTIONS = {
  /**
   * The worker: conditional UpdateItem / PutItem for state (ReturnValuesOnConditionCheckFailure needs no
   * read permission), conditional PutItem for Event Trigger records and for notification records already
   * present, PartiQL INSERT (in BatchExecuteStatement) for new notification records, and BatchGetItem for
   * the notification records of bodies without triggered_at (replay detection).
   */
  applyNotifications: [
    'dynamodb:UpdateItem',
    'dynamodb:PutItem',
    'dynamodb:PartiQLInsert',
    'dynamodb:BatchGetItem',
  ],
  /** The redirect function records one `redirect` item per visit and never reads. */
  recordRedirects: ['dynamodb:PutItem'],
  /**
   * Create and cancel (shared/aws/scheduling-store.ts): conditional PutItem / UpdateItem of the record and of
   * the idempotency item, GetItem of the idempotency item while waiting for a concurrent request, DeleteItem
   * to release it after a failed Cronofy call.
   */
  schedulingRequests: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:GetItem', 'dynamodb:DeleteItem'],
  /**
   * Reconciliation (shared/aws/reconcile-store.ts): BatchGetItem / GetItem of the records, conditional PutItem /
   * UpdateItem of their new state; Query of the open-requests index is granted on that index alone.
   */
  reconcile: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
} as const satisfies Record<string, readonly string[]>;

/**
 * Allow the given table actions on the table itself (not its indexes: `table.grant` would add `index/*`) and
 * `dynamodb:Query` on each of `queryIndexes`, and set `TABLE_NAME`.
 */
export function bindTable(
  fn: AppFunction,
  table: ITableV2,
  actions: readonly string[],
  queryIndexes: readonly string[] = [],
): void {
  Grant.addToPrincipal({ grantee: fn.function, actions: [...actions], resourceArns: [table.tableArn] });
  if (queryIndexes.length > 0)
    Grant.addToPrincipal({
      grantee: fn.function,
      actions: ['dynamodb:Query'],
      resourceArns: queryIndexes.map((index) => `${table.tableArn}/index/${index}`),
    });
  // The table is encrypted with the AWS owned key (no grant needed); a customer managed key would need one.
  table.encryptionKey?.grantEncryptDecrypt(fn.function);
  fn.addEnvironment(ENV.tableName, table.tableName);
}

/**
 * What a function needs to call Cronofy: its data center (the API host), and its instance's share of the rate
 * limit (`CRONOFY_RATE_PER_SECOND`, `CRONOFY_RATE_PER_MINUTE`). The credential comes from the secret (bindSecret).
 */
export function bindCronofy(
  fn: AppFunction,
  dataCenter: string,
  share: { perSecond: number; perMinute: number },
): void {
  fn.addEnvironment(ENV.cronofyDataCenter, dataCenter);
  fn.addEnvironment(ENV.cronofyRatePerSecond, String(share.perSecond));
  fn.addEnvironment(ENV.cronofyRatePerMinute, String(share.perMinute));
}

/** Allow `sqs:SendMessage` (only) and set `QUEUE_URL`. */
export function bindQueueSender(fn: AppFunction, queue: IQueue): void {
  queue.grant(fn.function, 'sqs:SendMessage');
  // Only a customer-managed key needs KMS permissions; SQS-managed encryption (what we use) needs none.
  queue.encryptionMasterKey?.grant(fn.function, 'kms:GenerateDataKey', 'kms:Decrypt');
  fn.addEnvironment(ENV.queueUrl, queue.queueUrl);
}

/**
 * Allow `secretsmanager:GetSecretValue` (only) and set `SECRET_ARN` and `SECRETS_CACHE_SECONDS`: the
 * function reads the secret at run time and keeps it that long, so a rotation needs no redeploy.
 */
export function bindSecret(fn: AppFunction, secret: ISecret, cacheSeconds: number): void {
  Grant.addToPrincipal({
    grantee: fn.function,
    actions: ['secretsmanager:GetSecretValue'],
    // An ARN without the six-character suffix Secrets Manager appends must be matched with a wildcard.
    resourceArns: [secret.secretFullArn ?? `${secret.secretArn}-??????`],
  });
  secret.encryptionKey?.grantDecrypt(fn.function);
  fn.addEnvironment(ENV.secretArn, secret.secretArn);
  fn.addEnvironment(ENV.secretsCacheSeconds, String(cacheSeconds));
}

/**
 * The tenants table's actions per use (shared/aws/tenant-store.ts); each grant also gives the KMS actions on the
 * stack's tenants key that the use needs.
 */
export const TENANT_ACCESS = {
  /**
   * The tenant routes and Organization Connect's callback: every store method (TransactWriteItems is authorised
   * per item as PutItem / UpdateItem / DeleteItem), Scan for `GET /tenants`; encrypt and decrypt.
   */
  manage: {
    table: [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:Scan',
    ],
    kms: ['kms:Encrypt', 'kms:Decrypt'],
  },
  /**
   * Calling Cronofy for a tenant (shared/tenants/credentials.ts): read the tenant and its credential, the refresh
   * lease and refreshed tokens (UpdateItem), the disconnect (DeleteItem + UpdateItem); encrypt and decrypt.
   */
  callCronofy: {
    table: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
    kms: ['kms:Encrypt', 'kms:Decrypt'],
    items: ['tenant#*', 'credential#*'],
    fields: ['access_token', 'refresh_token'],
  },
  /**
   * Reconciliation: calling Cronofy for a tenant (the two token fields), and counting the tenants per status for
   * the dashboard: a Scan, which DynamoDB cannot restrict by key, so no `items`.
   */
  reconcile: {
    table: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Scan'],
    kms: ['kms:Encrypt', 'kms:Decrypt'],
    fields: ['access_token', 'refresh_token'],
  },
  /**
   * The tenant notification route's TenantDirectory: one GetItem of a tenant item, decrypt its client secrets
   * only. The route is public: whatever goes wrong in it, its role can never read a tenant's OAuth tokens.
   */
  verifyNotifications: {
    table: ['dynamodb:GetItem'],
    kms: ['kms:Decrypt'],
    items: ['tenant#*'],
    fields: ['client_secrets'],
  },
} as const satisfies Record<string, TenantAccess>;

/**
 * `items`: the partition keys a use may touch (`dynamodb:LeadingKeys`, the prefixes of shared/aws/tenant-store.ts);
 * `fields`: the encryption context `field`s it may encrypt or decrypt. Absent: all (the tenant routes scan, and
 * DynamoDB cannot restrict a Scan by key).
 */
interface TenantAccess {
  readonly table: readonly string[];
  readonly kms: readonly string[];
  readonly items?: readonly string[];
  readonly fields?: readonly string[];
}

/**
 * Allow a use of the tenants table and its key, and set `TENANTS_TABLE_NAME` and `TENANTS_KEY_ARN`. KMS is allowed
 * only with the encryption context the code always sends (`tenant_id` and `field`, nothing else), so the grant
 * cannot encrypt or decrypt anything that is not a tenant's credential.
 */
export function bindTenants(fn: AppFunction, table: ITableV2, key: IKey, access: TenantAccess): void {
  fn.function.addToRolePolicy(
    new PolicyStatement({
      actions: [...access.table],
      resources: [table.tableArn],
      ...(access.items
        ? { conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...access.items] } } }
        : {}),
    }),
  );
  fn.function.addToRolePolicy(
    new PolicyStatement({
      actions: [...access.kms],
      resources: [key.keyArn],
      conditions: {
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['tenant_id', 'field'] },
        Null: { 'kms:EncryptionContext:tenant_id': 'false', 'kms:EncryptionContext:field': 'false' },
        ...(access.fields ? { StringEquals: { 'kms:EncryptionContext:field': [...access.fields] } } : {}),
      },
    }),
  );
  fn.addEnvironment(ENV.tenantsTableName, table.tableName);
  fn.addEnvironment(ENV.tenantsKeyArn, key.keyArn);
}
