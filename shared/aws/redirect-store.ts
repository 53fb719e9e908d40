import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  type DynamoDBClient,
  type DynamoDBClientConfig,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { keys, PARTITION_KEY } from '../contract/keys.ts';
import type { RedirectRecord } from '../contract/records.ts';
import type { RedirectStore } from '../core/ports.ts';

/**
 * Client settings for the redirect write: a recipient is waiting on it, and a failed write does not stop the
 * redirect, so give up after two short attempts (about 2 s at worst) instead of the SDK's default patience.
 */
export const REDIRECT_CLIENT_CONFIG = {
  maxAttempts: 2,
  // Without throwOnRequestTimeout, current SDKs only log a warning when requestTimeout passes, and wait on.
  requestHandler: { connectionTimeout: 500, requestTimeout: 1000, throwOnRequestTimeout: true },
} as const satisfies DynamoDBClientConfig;

/**
 * Writes one `redirect` item per recipient redirect: plain string attributes, so stream
 * consumers read them without knowing the key design. Every field is a string, so the item is built by hand
 * rather than with @aws-sdk/util-dynamodb: the redirects bundle carries only the DynamoDB client.
 */
export class DynamoRedirectStore implements RedirectStore {
  constructor(
    private readonly client: Pick<DynamoDBClient, 'send'>,
    private readonly tableName: string,
    private readonly newId: () => string = randomUUID,
  ) {}

  async putRedirect(record: RedirectRecord): Promise<void> {
    const item: Record<string, AttributeValue> = { [PARTITION_KEY]: { S: keys.redirect(this.newId()) } };
    for (const [name, value] of Object.entries(record)) {
      if (typeof value === 'string') item[name] = { S: value };
    }
    // No condition: the key is a fresh UUID, and an SDK retry of a write that did land must rewrite the same
    // item rather than fail with ConditionalCheckFailed (which would be logged as a lost record).
    await this.client.send(new PutItemCommand({ TableName: this.tableName, Item: item }));
  }
}
