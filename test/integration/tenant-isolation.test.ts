import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { keys } from '#shared/contract/keys.ts';
import type { StateWrite } from '#shared/contract/ordering.ts';
import { silentLogger } from '#shared/core/logger.ts';
import { processBatch, type WorkerDeps } from '#shared/notifications/apply.ts';
import type { SignedBy } from '#shared/notifications/envelope.ts';
import { conferencingBody, eventTriggerBody, schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { type LocalAws, readItem, startLocalAws } from '../support/local-aws.ts';
import { queueMessage } from '../support/messages.ts';
import { readStream, recordsFor } from '../support/stream-reader.ts';

/**
 * Tenant isolation against DynamoDB Local: a notification only a tenant's own secret signed never changes a
 * record that is not that tenant's, checked by the conditional write itself (so it holds under a race), and
 * two tenants' events never share an item.
 */

let aws: LocalAws;
let store: DynamoRecordStore;
let deps: WorkerDeps;
let counter = 0;
const uniqueId = (prefix: string) => `${prefix}_${process.pid}_${++counter}`;

beforeAll(async () => {
  aws = await startLocalAws();
  store = new DynamoRecordStore(aws.ddb, aws.tableName);
  deps = {
    store,
    clock: () => new Date('2026-11-23T13:00:00.000Z'),
    logger: silentLogger,
    retentionDays: 90,
  };
});
afterAll(async () => aws?.stop());

const item = (pk: string) => readItem(aws, pk);
const at = (id: string, signedBy: SignedBy) => ({ tenant: { id, signedBy } });
const body = (
  type: 'scheduling_request_time_chosen' | 'scheduling_request_rescheduled',
  id: string,
  time: string,
) =>
  schedulingRequestBody(type, {
    schedulingRequestId: id,
    triggeredAt: time,
    start: `2026-12-0${time.at(-2)}T10:00:00Z`,
  });

describe('a forged cross-tenant notification', () => {
  it('changes nothing on the table or its stream, and is kept rejected', async () => {
    const id = uniqueId('srq_owned');
    await processBatch(
      [
        queueMessage(
          body('scheduling_request_time_chosen', id, '2026-11-23T09:00:01Z'),
          at('acme', 'tenant'),
        ),
      ],
      deps,
    );
    const before = await item(keys.schedulingRequest(id));
    expect(before?.tenant_id).toBe('acme');

    // Not a first step, so the adapter tries its one-round-trip update (no read): the condition refuses it.
    const forged = queueMessage(
      body('scheduling_request_rescheduled', id, '2026-11-23T09:00:05Z'),
      at('globex', 'tenant'),
    );
    expect(await processBatch([forged], deps)).toEqual([]);
    expect(await item(keys.schedulingRequest(id))).toEqual(before);
    expect(await item(keys.notification(forged.key, 'globex'))).toMatchObject({
      status: 'rejected',
      reason: 'tenant_mismatch',
      tenant_id: 'globex',
      signed_by: 'tenant',
    });
    // Delivered again: still nothing.
    await processBatch([forged], deps);
    const stream = await readStream(aws.dynamo.endpoint, aws.streamArn);
    expect(recordsFor(stream, keys.schedulingRequest(id)).map((r) => r.eventName)).toEqual(['INSERT']);
    expect(recordsFor(stream, keys.notification(forged.key, 'globex')).map((r) => r.eventName)).toEqual([
      'INSERT',
    ]);
  });

  it('cannot take over a record with no tenant (written before tenants, or through the shared URL)', async () => {
    const id = uniqueId('srq_untenanted');
    await processBatch(
      [queueMessage(body('scheduling_request_time_chosen', id, '2026-11-23T09:00:01Z'))],
      deps,
    );
    const before = await item(keys.schedulingRequest(id));
    expect(before?.tenant_id).toBeUndefined();
    const claim = queueMessage(
      body('scheduling_request_rescheduled', id, '2026-11-23T09:00:05Z'),
      at('acme', 'tenant'),
    );
    await processBatch([claim], deps);
    expect(await item(keys.schedulingRequest(id))).toEqual(before);
    expect((await item(keys.notification(claim.key, 'acme')))?.status).toBe('rejected');
  });

  it("the adapter's one-round-trip update answers tenant_mismatch itself, without changing the record", async () => {
    const pk = keys.schedulingRequest(uniqueId('srq_direct'));
    const existing = {
      pk,
      entity: 'scheduling_request',
      scheduling_request_id: 'x',
      tenant_id: 'acme',
      revision: 1,
      updated_at: 'then',
      event: {},
    };
    await aws.ddb.send(new PutItemCommand({ TableName: aws.tableName, Item: marshall(existing) }));
    const write: StateWrite = {
      pk,
      key: 'sha256:1111111111111111111111111111111111111111111111111111111111111111',
      at: '2026-11-23T09:00:00.000Z',
      triggeredAt: '2026-11-23T09:00:00.000Z',
      common: { entity: 'scheduling_request', scheduling_request_id: 'x', updated_at: 'now' },
      aspects: [{ aspect: 'lifecycle', set: { status: 'declined' } }],
      tenantId: 'globex',
      tenantOnly: true,
    };
    expect(await store.applyState(write)).toBe('tenant_mismatch');
    expect(await item(pk)).toEqual(existing);
    expect(await store.applyState({ ...write, tenantId: 'acme' })).toBe('applied');
    expect(await item(pk)).toMatchObject({ tenant_id: 'acme', status: 'declined' });
  });

  it('at the shared URL, the notification record takes the tenant of the record (learned from the write itself)', async () => {
    const id = uniqueId('srq_inherit');
    await processBatch(
      [
        queueMessage(
          body('scheduling_request_time_chosen', id, '2026-11-23T09:00:01Z'),
          at('acme', 'tenant'),
        ),
      ],
      deps,
    );
    const shared = queueMessage(body('scheduling_request_rescheduled', id, '2026-11-23T09:00:05Z'));
    await processBatch([shared], deps);
    expect(await item(keys.notification(shared.key))).toMatchObject({ tenant_id: 'acme', status: 'applied' });
    expect(await item(keys.schedulingRequest(id))).toMatchObject({
      tenant_id: 'acme',
      status: 'rescheduled',
    });
  });
});

describe('under a race', () => {
  it('two tenants creating one record: one owns it, the other is rejected, never both applied', async () => {
    for (let round = 0; round < 12; round++) {
      const id = uniqueId('srq_race');
      const acme = queueMessage(
        body('scheduling_request_time_chosen', id, '2026-11-23T09:00:01Z'),
        at('acme', 'tenant'),
      );
      const globex = queueMessage(
        body('scheduling_request_rescheduled', id, '2026-11-23T09:00:05Z'),
        at('globex', 'tenant'),
      );
      // Each in its own batch, as two worker instances would take them.
      const order = round % 2 === 0 ? [acme, globex] : [globex, acme];
      await Promise.all(order.map((message) => processBatch([message], deps)));
      const record = await item(keys.schedulingRequest(id));
      const statuses = {
        acme: (await item(keys.notification(acme.key, 'acme')))?.status,
        globex: (await item(keys.notification(globex.key, 'globex')))?.status,
      };
      expect(Object.values(statuses).sort()).toEqual(['applied', 'rejected']);
      const owner = statuses.acme === 'applied' ? 'acme' : 'globex';
      expect(record?.tenant_id).toBe(owner);
      // Only the owner's values are on the record.
      expect(record?.status).toBe(owner === 'acme' ? 'time_chosen' : 'rescheduled');
    }
  });

  it("a tenant's own notification racing the application's first write of another tenant's record never lands on it", async () => {
    for (let round = 0; round < 12; round++) {
      const id = uniqueId('srq_race_app');
      const app = queueMessage(
        body('scheduling_request_time_chosen', id, '2026-11-23T09:00:01Z'),
        at('acme', 'application'),
      );
      const forged = queueMessage(
        body('scheduling_request_rescheduled', id, '2026-11-23T09:00:05Z'),
        at('globex', 'tenant'),
      );
      await Promise.all([processBatch([app], deps), processBatch([forged], deps)]);
      const record = await item(keys.schedulingRequest(id));
      const forgedStatus = (await item(keys.notification(forged.key, 'globex')))?.status;
      if (record?.tenant_id === 'acme') {
        // acme's write came first (or took the record over from none): globex's never changed it.
        expect(forgedStatus).toBe('rejected');
        expect(record.status).toBe('time_chosen');
      } else {
        // globex created it first: it is globex's, and acme's (the application's) applied to it as a record
        // of globex, whose tenant never changes.
        expect(record?.tenant_id).toBe('globex');
        expect(forgedStatus).toBe('applied');
      }
    }
  });
});

describe('event ids repeat across tenants', () => {
  it("two tenants' same event_id are two items (and two trigger items); the shared URL's keeps its old key", async () => {
    const eventId = uniqueId('interview');
    const conferencing = conferencingBody('conferencing_assigned', {
      eventId,
      triggeredAt: '2026-11-23T09:00:00Z',
    });
    const trigger = eventTriggerBody({ before: 'event_start', offset: { minutes: 5 } }, { eventId });
    await processBatch(
      [
        queueMessage(conferencing, at('acme', 'tenant')),
        queueMessage(conferencing, at('globex', 'tenant')),
        queueMessage(conferencing),
        queueMessage(trigger, at('acme', 'tenant')),
        queueMessage(trigger, at('globex', 'tenant')),
      ],
      deps,
    );
    expect(await item(keys.event(eventId, 'acme'))).toMatchObject({ event_id: eventId, tenant_id: 'acme' });
    expect(await item(keys.event(eventId, 'globex'))).toMatchObject({
      event_id: eventId,
      tenant_id: 'globex',
    });
    const legacy = await item(keys.event(eventId));
    expect(legacy?.event_id).toBe(eventId);
    expect(legacy?.tenant_id).toBeUndefined();
    const stream = await readStream(aws.dynamo.endpoint, aws.streamArn);
    const triggers = stream.filter(
      (r) =>
        r.dynamodb?.NewImage?.entity?.S === 'event_trigger' && r.dynamodb.NewImage.event_id?.S === eventId,
    );
    expect(triggers.map((r) => r.dynamodb?.NewImage?.tenant_id?.S).sort()).toEqual(['acme', 'globex']);
    expect(new Set(triggers.map((r) => r.dynamodb?.Keys?.pk?.S)).size).toBe(2);
  });
});
