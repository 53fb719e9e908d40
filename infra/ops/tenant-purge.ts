import {
  type AttributeValue,
  BatchWriteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  ScanCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { PARTITION_KEY } from '#shared/contract/keys.ts';
import { TENANTS_PARTITION_KEY } from '#shared/contract/tenants.ts';

/**
 * `npm run ops -- tenant purge <tenant_id> [--dry-run]`: deletes every item of the records table that carries
 * that `tenant_id` (scheduling requests, notifications, events, Event Triggers, idempotency items), and the
 * recipients' redirects of its scheduling requests (which carry no tenant), after the tenant was offboarded
 * (`DELETE /tenants/{tenant_id}`). Scans with a filter (no index holds every record of a tenant) reading only
 * keys, entities and scheduling request ids, page by page; each page's matches are deleted in batches of 25
 * before the next page is read, unprocessed deletes retried with backoff: first the tenant's records but its
 * scheduling requests, then a second Scan for the redirects of those, then the scheduling requests. Deleting is
 * idempotent and nothing is kept between runs, so an interrupted purge is finished by running it again (the
 * scheduling requests, still there, find their redirects again); a rerun over a purged tenant deletes nothing.
 *
 * The tenant's own registration (entity `tenant`), should it live in this table, is kept: offboarding decides
 * about it, not the purge. Deletes reach the table's stream like any other change (REMOVE records).
 */

/** Items one BatchWriteItem takes at most (DynamoDB's limit). */
const BATCH_SIZE = 25;
const MAX_ATTEMPTS = 8;
/** Entities the purge never deletes, whatever `tenant_id` they carry. */
const KEPT_ENTITIES = ['tenant'] as const;

export interface PurgeProgress {
  /** Items the Scans have read so far (the whole table, twice when the tenant has scheduling requests). */
  scanned: number;
  /** Items carrying the tenant's id found so far. */
  matched: number;
  /** Of those, deleted so far (0 in a dry run). */
  deleted: number;
  /** Scan pages read. */
  pages: number;
}

export interface PurgeOptions {
  /** Count, delete nothing. */
  dryRun?: boolean;
  /** After every page. */
  onProgress?: (progress: PurgeProgress) => void;
  /** Items the Scan evaluates per page (default: DynamoDB's 1 MB page). */
  pageSize?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class PurgeIncomplete extends Error {
  override readonly name = 'PurgeIncomplete';
}

/** The tenant is still registered: its records are its own until it is offboarded. */
export class PurgeRefused extends Error {
  override readonly name = 'PurgeRefused';
}

/**
 * A purge is for an offboarded tenant: one the tenants table holds without `offboarded_at` is live, and a typo
 * must not wipe a live customer's records. An id the table does not know is purged as asked (records of Embed
 * tokens, a registry that was reset). Without the table (a stack older than tenants) there is nothing to check.
 */
async function refuseLiveTenant(
  target: { ddb: DynamoDBClient; tenantsTableName?: string | undefined },
  tenantId: string,
): Promise<'known' | 'unknown' | 'unchecked'> {
  if (!target.tenantsTableName) return 'unchecked';
  const answer = await target.ddb.send(
    new GetItemCommand({
      TableName: target.tenantsTableName,
      Key: { [TENANTS_PARTITION_KEY]: { S: `tenant#${tenantId}` } },
      ConsistentRead: true,
      ProjectionExpression: 'offboarded_at, #status',
      ExpressionAttributeNames: { '#status': 'status' },
    }),
  );
  if (answer.Item && answer.Item.offboarded_at === undefined) {
    // Its own status (registered, connected, or disconnected by Cronofy): "registered" alone reads as unconnected.
    const status = answer.Item.status?.S ?? 'registered';
    throw new PurgeRefused(
      `tenant ${tenantId} is ${status} and was not offboarded: offboard it first (DELETE /tenants/${tenantId}); nothing was deleted`,
    );
  }
  return answer.Item ? 'known' : 'unknown';
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function purgeTenant(
  target: { ddb: DynamoDBClient; tableName: string },
  tenantId: string,
  options: PurgeOptions = {},
): Promise<PurgeProgress> {
  const progress: PurgeProgress = { scanned: 0, matched: 0, deleted: 0, pages: 0 };
  const values: Record<string, AttributeValue> = { ':tenant': { S: tenantId } };
  KEPT_ENTITIES.forEach((entity, i) => {
    values[`:kept${i}`] = { S: entity };
  });
  // The tenant's scheduling requests go last: until then an interrupted purge finds them, and so their
  // redirects, again.
  const requests: { key: Record<string, AttributeValue>; id: string }[] = [];
  await scanAndDelete(
    target,
    {
      FilterExpression: `#tenant = :tenant AND (attribute_not_exists(#entity) OR NOT (#entity IN (${KEPT_ENTITIES.map((_, i) => `:kept${i}`).join(', ')})))`,
      ExpressionAttributeNames: { '#tenant': 'tenant_id', '#entity': 'entity' },
      ExpressionAttributeValues: values,
    },
    (item, key) => {
      const id = item.scheduling_request_id?.S;
      if (item.entity?.S !== 'scheduling_request' || id === undefined) return true;
      requests.push({ key, id });
      return false;
    },
    progress,
    options,
  );
  progress.matched += requests.length;
  if (requests.length > 0) {
    // A recipient's redirect carries no tenant (its scheduling_request_id comes from a public URL), but it is a
    // record of the tenant's request: its correlation id and UTM values go with the tenant.
    const ids = new Set(requests.map((request) => request.id));
    await scanAndDelete(
      target,
      {
        FilterExpression: '#entity = :redirect',
        ExpressionAttributeNames: { '#entity': 'entity' },
        ExpressionAttributeValues: { ':redirect': { S: 'redirect' } },
      },
      (item) => ids.has(item.scheduling_request_id?.S ?? ''),
      progress,
      options,
    );
  }
  // The totals the caller reports at the end say how many of them went.
  if (!options.dryRun)
    await deleteAll(
      target,
      requests.map((request) => request.key),
      progress,
      options,
    );
  return progress;
}

/**
 * One Scan through the table with `filter`, reading only the key, `entity` and `scheduling_request_id` (no
 * other value of a record leaves the table); each page's items that `take` keeps are deleted before the next
 * page is read. Counts into `progress`, reported after every page.
 */
async function scanAndDelete(
  target: { ddb: DynamoDBClient; tableName: string },
  filter: {
    FilterExpression: string;
    ExpressionAttributeNames: Record<string, string>;
    ExpressionAttributeValues: Record<string, AttributeValue>;
  },
  take: (item: Record<string, AttributeValue>, key: Record<string, AttributeValue>) => boolean,
  progress: PurgeProgress,
  options: PurgeOptions,
): Promise<void> {
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await target.ddb.send(
      new ScanCommand({
        TableName: target.tableName,
        ...filter,
        ProjectionExpression: '#pk, #entity, #request',
        ExpressionAttributeNames: {
          ...filter.ExpressionAttributeNames,
          '#pk': PARTITION_KEY,
          '#request': 'scheduling_request_id',
        },
        ExclusiveStartKey: start,
        ...(options.pageSize ? { Limit: options.pageSize } : {}),
      }),
    );
    const keys = (page.Items ?? []).flatMap((item) => {
      const pk = item[PARTITION_KEY];
      if (!pk) return [];
      const key = { [PARTITION_KEY]: pk };
      return take(item, key) ? [key] : [];
    });
    progress.pages++;
    progress.scanned += page.ScannedCount ?? 0;
    progress.matched += keys.length;
    if (!options.dryRun) await deleteAll(target, keys, progress, options);
    options.onProgress?.({ ...progress });
    start = page.LastEvaluatedKey;
  } while (start);
}

async function deleteAll(
  target: { ddb: DynamoDBClient; tableName: string },
  keys: Record<string, AttributeValue>[],
  progress: PurgeProgress,
  options: PurgeOptions,
): Promise<void> {
  for (let i = 0; i < keys.length; i += BATCH_SIZE) {
    const batch = keys.slice(i, i + BATCH_SIZE);
    await deleteBatch(target, batch, options.sleep ?? realSleep);
    progress.deleted += batch.length;
  }
}

async function deleteBatch(
  target: { ddb: DynamoDBClient; tableName: string },
  keys: Record<string, AttributeValue>[],
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  let requests: WriteRequest[] = keys.map((key) => ({ DeleteRequest: { Key: key } }));
  for (let attempt = 1; requests.length > 0; attempt++) {
    if (attempt > MAX_ATTEMPTS)
      throw new PurgeIncomplete(
        `DynamoDB left ${requests.length} delete(s) unprocessed after ${MAX_ATTEMPTS} attempts (throttled?); run the purge again`,
      );
    if (attempt > 1) await sleep(Math.min(5_000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2));
    const result = await target.ddb.send(
      new BatchWriteItemCommand({ RequestItems: { [target.tableName]: requests } }),
    );
    requests = result.UnprocessedItems?.[target.tableName] ?? [];
  }
}

/** One progress line for people. */
export function formatPurgeProgress(tenantId: string, progress: PurgeProgress, dryRun: boolean): string {
  return dryRun
    ? `tenant ${tenantId}: ${progress.matched} record(s) would be deleted (${progress.scanned} item(s) scanned, ${progress.pages} page(s))`
    : `tenant ${tenantId}: ${progress.deleted} record(s) deleted (${progress.scanned} item(s) scanned, ${progress.pages} page(s))`;
}

/**
 * The CLI's `tenant purge <tenant_id> [--dry-run] [--json]`: progress lines as it goes (text), the totals at
 * the end. Exit status 0 when done; a failure (DynamoDB unreachable, deletes left unprocessed) throws.
 */
export async function runTenantPurge(
  target: { ddb: DynamoDBClient; tableName: string; tenantsTableName?: string | undefined },
  tenantId: string,
  options: { dryRun: boolean; json: boolean },
  io: { stdout: (text: string) => void },
): Promise<number> {
  // A dry run deletes nothing: it may count a live tenant's records.
  // A dry run answers what the purge would: a refusal, not a count of records it would never delete.
  const registry = await refuseLiveTenant(target, tenantId);
  const progress = await purgeTenant(target, tenantId, {
    dryRun: options.dryRun,
    ...(options.json
      ? {}
      : { onProgress: (p: PurgeProgress) => io.stdout(formatPurgeProgress(tenantId, p, options.dryRun)) }),
  });
  io.stdout(
    options.json
      ? JSON.stringify({ tenant_id: tenantId, dry_run: options.dryRun, ...progress }, null, 2)
      : options.dryRun
        ? `Dry run: ${progress.matched} record(s) of tenant ${tenantId} in ${target.tableName}; nothing deleted.`
        : `Purged tenant ${tenantId}: ${progress.deleted} record(s) deleted from ${target.tableName}. Running it again deletes what was written meanwhile, if anything.`,
  );
  // A typo deletes nothing, but should not read like a finished purge.
  if (!options.json && registry === 'unknown' && progress.matched === 0)
    io.stdout(`No tenant ${tenantId} was ever registered and no record carries it: check the id.`);
  return 0;
}
