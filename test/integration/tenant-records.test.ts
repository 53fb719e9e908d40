import {
  type AttributeValue,
  BatchWriteItemCommand,
  type BatchWriteItemCommandOutput,
  type DynamoDBClient,
  PutItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalAesCipher } from '#shared/aws/kms-cipher.ts';
import { DynamoReconcileStore } from '#shared/aws/reconcile-store.ts';
import { DynamoRedirectStore } from '#shared/aws/redirect-store.ts';
import { DynamoSchedulingStore, idempotencyKey } from '#shared/aws/scheduling-store.ts';
import { DynamoTenantStore } from '#shared/aws/tenant-store.ts';
import { PARTITION_KEY } from '#shared/contract/keys.ts';
import { silentLogger } from '#shared/core/logger.ts';
import type { CreatedRequest } from '#shared/core/ports.ts';
import { reconcile } from '#shared/scheduling/reconcile.ts';
import { createTenantsTable } from '../../infra/local/services.ts';
import { listNotifications, type Target } from '../../infra/ops/operations.ts';
import { PurgeIncomplete, purgeTenant, runTenantPurge } from '../../infra/ops/tenant-purge.ts';
import { type LocalAws, readSchedulingRecord, startLocalAws } from '../support/local-aws.ts';
import { fakeTenantCredentials, TenantScopedApi } from '../support/memory-scheduling.ts';

/**
 * Records of many tenants on DynamoDB Local: the scheduling store keeps a record's tenant (and never changes
 * it), reconciliation groups the open requests of the index by it, `ops list --tenant` filters by it, and
 * `ops tenant purge` deletes exactly one tenant's records, page by page, repeatably, finishing an interrupted run.
 */

let aws: LocalAws;
let store: DynamoSchedulingStore;

beforeAll(async () => {
  aws = await startLocalAws(`tenants-${process.pid}`);
  store = new DynamoSchedulingStore(aws.ddb, aws.tableName);
});
afterAll(async () => aws?.stop());

let next = 0;
const created = (tenant?: string): CreatedRequest => ({
  scheduling_request_id: `srq_t${++next}`,
  select_url: `https://app.cronofy.com/rts/${next}`,
  metadata: {},
  ...(tenant ? { tenant_id: tenant } : {}),
  created_at: new Date().toISOString(),
});

async function putNotification(id: string, tenant: string | undefined, status = 'stale') {
  await aws.ddb.send(
    new PutItemCommand({
      TableName: aws.tableName,
      Item: marshall({
        [PARTITION_KEY]: `notification#${id}`,
        entity: 'notification',
        notification_id: id,
        status,
        type: 'scheduling_request_status_changed',
        received_at: new Date().toISOString(),
        ...(tenant ? { tenant_id: tenant } : {}),
      }),
    }),
  );
}

/** Every item of the table, by key. */
async function items(): Promise<Map<string, Record<string, unknown>>> {
  const found = new Map<string, Record<string, unknown>>();
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await aws.ddb.send(
      new ScanCommand({ TableName: aws.tableName, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    for (const item of page.Items ?? []) {
      const value = unmarshall(item);
      found.set(String(value[PARTITION_KEY]), value);
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return found;
}

/** A client whose BatchWriteItem the test can interfere with; everything else goes to DynamoDB Local. */
function meddling(
  meddle: (
    send: () => Promise<BatchWriteItemCommandOutput>,
    n: number,
    command: BatchWriteItemCommand,
  ) => Promise<BatchWriteItemCommandOutput>,
): DynamoDBClient {
  let n = 0;
  return new Proxy(aws.ddb, {
    get(client, property) {
      if (property !== 'send') return Reflect.get(client, property);
      return (command: unknown) =>
        command instanceof BatchWriteItemCommand
          ? meddle(() => client.send(command), ++n, command)
          : client.send(command as Parameters<DynamoDBClient['send']>[0]);
    },
  });
}

describe('the records of a tenant', () => {
  it('a created request records its tenant, and a later create for another tenant never changes it', async () => {
    const mine = created('acme');
    await store.recordCreated(mine, new Date().toISOString());
    expect(await store.tenantOf(mine.scheduling_request_id)).toBe('acme');
    expect((await readSchedulingRecord(aws, mine.scheduling_request_id))?.tenant_id).toBe('acme');
    await store.recordCreated({ ...mine, tenant_id: 'other' }, new Date().toISOString());
    expect(await store.tenantOf(mine.scheduling_request_id)).toBe('acme');

    const own = created();
    await store.recordCreated(own, new Date().toISOString());
    expect(await readSchedulingRecord(aws, own.scheduling_request_id)).not.toHaveProperty('tenant_id');
    expect(await store.tenantOf(own.scheduling_request_id)).toBeUndefined();
    expect(await store.tenantOf('srq_never_recorded')).toBeUndefined();
  });

  it('reconciliation reads the open requests of the index per tenant and skips a disconnected one', async () => {
    const byId = new Map<string, string | undefined>();
    for (const tenant of ['a', 'c', undefined, 'b', 'a', 'c']) {
      const request = created(tenant);
      byId.set(request.scheduling_request_id, tenant);
      await store.recordCreated(request, new Date().toISOString());
    }
    // Only this test's requests: the index also holds those of the other tests.
    const api = new TenantScopedApi(fakeTenantCredentials(), (id) => byId.get(id));
    const report = await reconcile(
      { ids: [...byId.keys()], maxCalls: 10 },
      {
        api,
        store: new DynamoReconcileStore(aws.ddb, aws.tableName),
        clock: () => new Date(),
        logger: silentLogger,
      },
    );
    const ids = [...byId.keys()];
    // One query per tenant that can be called for (in the run's turn order), with its own requests only.
    const byTenant = (q: { tenant?: string }) => q.tenant ?? '';
    expect(
      api.queries
        .map(({ tenant, ids: asked }) => ({ tenant, asked }))
        .sort((x, y) => byTenant(x).localeCompare(byTenant(y))),
    ).toEqual([
      { tenant: undefined, asked: [ids[2]] },
      { tenant: 'a', asked: [ids[0], ids[4]] },
      { tenant: 'b', asked: [ids[3]] },
    ]);
    expect(report.skipped).toEqual([ids[1], ids[5]]);
    expect(report.skippedTenants).toEqual([{ tenantId: 'c', reason: 'tenant_disconnected', requests: 2 }]);
    for (const id of byId.keys()) {
      const record = await readSchedulingRecord(aws, id);
      // Cronofy's answer showed nothing new: a run that finds nothing writes nothing (no reconciled_at).
      expect(record).not.toHaveProperty('reconciled_at');
      // Still open: a skipped request is read again once its tenant reconnects.
      expect(record?.open_bucket).toBe('open');
    }
  });

  it('ops list --tenant lists the notifications of that tenant only', async () => {
    await putNotification('n-list-x1', 'listed');
    await putNotification('n-list-y1', 'unlisted');
    await putNotification('n-list-none', undefined);
    const target = { ddb: aws.ddb, tableName: aws.tableName } as Target;
    const { notifications } = await listNotifications(target, { statuses: ['stale'], tenant: 'listed' });
    expect(notifications.map((n) => [n.notification_id, n.tenant_id])).toEqual([['n-list-x1', 'listed']]);
  });
});

describe('ops tenant purge', () => {
  /** 60 records of `gone` of every kind (several pages, several batches), and records of others. */
  async function seed() {
    const gone: string[] = [];
    for (let i = 0; i < 40; i++) {
      const request = created('gone');
      gone.push(request.scheduling_request_id);
      await store.recordCreated(request, new Date().toISOString());
    }
    // Recipients' redirects carry no tenant (their scheduling_request_id comes from a public URL): the ones of the
    // tenant's requests are its records too (their correlation ids and UTM values).
    const redirects = new DynamoRedirectStore(aws.ddb, aws.tableName);
    for (const id of [gone[0], gone[0], gone[39]])
      await redirects.putRedirect({
        entity: 'redirect',
        step: 'time_chosen',
        scheduling_request_id: id ?? '',
        at: new Date().toISOString(),
        correlation_id: 'candidate-7',
      });
    for (let i = 0; i < 18; i++) await putNotification(`n-gone-${i}`, 'gone');
    await store.begin('caller\nkey-1\ngone', {
      fingerprint: 'f',
      token: 't',
      leaseUntil: Date.now() + 30_000,
      createdAt: new Date().toISOString(),
      expiresAt: Math.floor(Date.now() / 1000) + 86_400,
      tenantId: 'gone',
    });
    // The registration is offboarding's to keep or forget, not the purge's.
    await aws.ddb.send(
      new PutItemCommand({
        TableName: aws.tableName,
        Item: marshall({ [PARTITION_KEY]: 'tenant#gone', entity: 'tenant', tenant_id: 'gone' }),
      }),
    );
    for (let i = 0; i < 5; i++) {
      const request = created('stays');
      await store.recordCreated(request, new Date().toISOString());
      await redirects.putRedirect({
        entity: 'redirect',
        step: 'declined',
        scheduling_request_id: request.scheduling_request_id,
        at: new Date().toISOString(),
      });
    }
    await putNotification('n-stays', 'stays');
    await putNotification('n-gone-prefix', 'gone-but-not-quite');
    await store.recordCreated(created(), new Date().toISOString());
  }

  const ofTenant = (all: Map<string, Record<string, unknown>>, tenant: string) => {
    const requests = new Set(
      [...all.values()]
        .filter((item) => item.tenant_id === tenant && item.entity === 'scheduling_request')
        .map((item) => item.scheduling_request_id),
    );
    return [...all.values()].filter(
      (item) =>
        (item.tenant_id === tenant && item.entity !== 'tenant') ||
        (item.entity === 'redirect' && requests.has(item.scheduling_request_id)),
    );
  };
  const isOfTenant = (all: Map<string, Record<string, unknown>>, tenant: string) => {
    const records = new Set(ofTenant(all, tenant));
    return (item: Record<string, unknown>) => records.has(item);
  };

  it('deletes exactly the records of one tenant, page by page with progress; a dry run counts; a rerun deletes nothing', async () => {
    await seed();
    const before = await items();
    expect(ofTenant(before, 'gone')).toHaveLength(62);
    expect(before.get(idempotencyKey('caller\nkey-1\ngone'))?.tenant_id).toBe('gone');

    const dry = await purgeTenant(aws, 'gone', { dryRun: true, pageSize: 25 });
    expect(dry).toMatchObject({ matched: 62, deleted: 0 });
    expect((await items()).size).toBe(before.size);

    const lines: number[] = [];
    const done = await purgeTenant(aws, 'gone', {
      pageSize: 25,
      onProgress: (progress) => lines.push(progress.deleted),
    });
    expect(done).toMatchObject({ matched: 62, deleted: 62 });
    // Twice through the table: the tenant's records (its 19 others than scheduling requests deleted as they are
    // found), then the redirects of its scheduling requests.
    expect(done.scanned).toBe(2 * before.size - 19);
    expect(lines.length).toBe(done.pages);
    expect(lines.length).toBeGreaterThan(2);

    const after = await items();
    expect(ofTenant(after, 'gone')).toEqual([]);
    expect(after.get('tenant#gone')).toBeDefined();
    // Everything else is exactly as it was.
    const gone = isOfTenant(before, 'gone');
    const others = [...before].filter(([, item]) => !gone(item));
    expect(new Map(others)).toEqual(after);

    expect(await purgeTenant(aws, 'gone')).toMatchObject({ matched: 0, deleted: 0 });
  });

  it("refuses to purge a tenant that is registered and not offboarded (an operator's typo must not wipe a live customer), naming its status, in a dry run too", async () => {
    const tenantsTableName = `${aws.tableName}-tenants-purge`;
    await createTenantsTable(aws.ddb, tenantsTableName);
    const tenants = new DynamoTenantStore(aws.ddb, tenantsTableName, new LocalAesCipher());
    const target = { ddb: aws.ddb, tableName: aws.tableName, tenantsTableName };
    const out: string[] = [];
    const io = { stdout: (text: string) => out.push(text) };
    await tenants.putTenant('live', { name: 'Live' }, new Date().toISOString());
    for (let i = 0; i < 3; i++) await putNotification(`n-live-${i}`, 'live');

    await expect(runTenantPurge(target, 'live', { dryRun: false, json: false }, io)).rejects.toThrow(
      /live is registered and was not offboarded: offboard it first \(DELETE \/tenants\/live\)/,
    );
    expect(ofTenant(await items(), 'live')).toHaveLength(3);
    const tokens = { accessToken: 'at', refreshToken: 'rt', expiresAt: Date.now() + 3_600_000 };
    await tenants.connect('live', tokens, new Date().toISOString());
    for (const dryRun of [false, true])
      await expect(runTenantPurge(target, 'live', { dryRun, json: true }, io)).rejects.toThrow(
        /live is connected and was not offboarded/,
      );
    expect(out).toEqual([]);
    expect(ofTenant(await items(), 'live')).toHaveLength(3);

    await tenants.offboard('live', new Date().toISOString());
    await runTenantPurge(target, 'live', { dryRun: false, json: true }, io);
    expect(ofTenant(await items(), 'live')).toEqual([]);
    // A tenant id the registry never knew (records of Embed tokens, an earlier registry): purged as asked.
    await putNotification('n-unknown-0', 'never-registered');
    await runTenantPurge(target, 'never-registered', { dryRun: false, json: true }, io);
    expect(ofTenant(await items(), 'never-registered')).toEqual([]);
  });

  it('retries deletes DynamoDB leaves unprocessed, and an interrupted purge is finished by running it again', async () => {
    for (let i = 0; i < 30; i++) await putNotification(`n-retry-${i}`, 'retried');
    const sleeps: number[] = [];
    const flaky = meddling(async (send, n, command) => {
      if (n > 1) return send();
      // The first batch as under throttling: the first 5 carried out, the rest handed back unprocessed.
      const requests = command.input.RequestItems?.[aws.tableName] ?? [];
      await aws.ddb.send(
        new BatchWriteItemCommand({ RequestItems: { [aws.tableName]: requests.slice(0, 5) } }),
      );
      return { $metadata: {}, UnprocessedItems: { [aws.tableName]: requests.slice(5) } };
    });
    const result = await purgeTenant({ ddb: flaky, tableName: aws.tableName }, 'retried', {
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    expect(result.deleted).toBe(30);
    expect(sleeps).toHaveLength(1);
    expect(ofTenant(await items(), 'retried')).toEqual([]);

    // Interrupted after the first batch (the operator's Ctrl-C, a lost connection): the rerun finishes it.
    for (let i = 0; i < 30; i++) await putNotification(`n-cut-${i}`, 'cut');
    const cut = meddling(async (send, n) => {
      if (n > 1) throw new Error('connection lost');
      return send();
    });
    await expect(purgeTenant({ ddb: cut, tableName: aws.tableName }, 'cut')).rejects.toThrow(
      'connection lost',
    );
    expect(ofTenant(await items(), 'cut')).toHaveLength(5);
    expect(await purgeTenant(aws, 'cut')).toMatchObject({ deleted: 5 });
    expect(ofTenant(await items(), 'cut')).toEqual([]);

    // Deletes DynamoDB keeps refusing: the purge says so instead of reporting success.
    await putNotification('n-stuck', 'stuck');
    const stuck = meddling(async () => ({
      $metadata: {},
      UnprocessedItems: {
        [aws.tableName]: [{ DeleteRequest: { Key: { [PARTITION_KEY]: { S: 'notification#n-stuck' } } } }],
      },
    }));
    await expect(
      purgeTenant({ ddb: stuck, tableName: aws.tableName }, 'stuck', { sleep: async () => {} }),
    ).rejects.toBeInstanceOf(PurgeIncomplete);
  });
});
