import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Grant } from 'aws-cdk-lib/aws-iam';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
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
} as const satisfies Record<string, readonly string[]>;

/** Allow the given table actions and set `TABLE_NAME`. */
export function bindTable(fn: AppFunction, table: ITableV2, actions: readonly string[]): void {
  table.grant(fn.function, ...actions);
  fn.addEnvironment('TABLE_NAME', table.tableName);
}

/** Allow `sqs:SendMessage` (only) and set `QUEUE_URL`. */
export function bindQueueSender(fn: AppFunction, queue: IQueue): void {
  queue.grant(fn.function, 'sqs:SendMessage');
  // Only a customer-managed key needs KMS permissions; SQS-managed encryption (what we use) needs none.
  queue.encryptionMasterKey?.grant(fn.function, 'kms:GenerateDataKey', 'kms:Decrypt');
  fn.addEnvironment('QUEUE_URL', queue.queueUrl);
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
  fn.addEnvironment('SECRET_ARN', secret.secretArn);
  fn.addEnvironment('SECRETS_CACHE_SECONDS', String(cacheSeconds));
}
