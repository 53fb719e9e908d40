import { describe, expect, it } from 'vitest';
import { keys, notificationKey } from '#shared/contract/keys.ts';
import { mergeState, type StateWrite } from '#shared/contract/ordering.ts';
import { parseStreamImage } from '#shared/contract/records.ts';
import { emfLines, type Outcome } from '#shared/core/metrics.ts';
import { processBatch, type WorkerDeps } from '#shared/notifications/apply.ts';
import type { SignedBy } from '#shared/notifications/envelope.ts';
import { planNotification } from '#shared/notifications/plan.ts';
import { decodeEnvelope } from '#shared/notifications/queue-message.ts';
import { capturingLogger } from '../support/capturing-logger.ts';
import { conferencingBody, eventTriggerBody, schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { MemoryStore } from '../support/memory-store.ts';
import { queueMessage } from '../support/messages.ts';

/** Tenants in the worker: every record carries its tenant, and a tenant's own secret reaches only its records. */

const SR = keys.schedulingRequest('srq_d6f3f8165239d662963fc09b');

function setup() {
  const store = new MemoryStore();
  const outcomes: Outcome[] = [];
  const { logger, lines } = capturingLogger();
  const deps: WorkerDeps = {
    store,
    clock: () => new Date('2026-11-23T10:00:05.000Z'),
    logger,
    retentionDays: 90,
    onOutcome: (outcome) => outcomes.push(outcome),
  };
  return { store, deps, outcomes, lines };
}

const at = (tenant: string, signedBy: SignedBy) => ({ tenant: { id: tenant, signedBy } });
const chosen = (triggeredAt: string) =>
  schedulingRequestBody('scheduling_request_time_chosen', { triggeredAt });
const rescheduled = (triggeredAt: string) =>
  schedulingRequestBody('scheduling_request_rescheduled', { triggeredAt, start: '2026-12-02T10:00:00Z' });

describe('records carry their tenant', () => {
  it("a tenant URL's notification creates the tenant's record, and its notification record is the tenant's", async () => {
    const { store, deps } = setup();
    const message = queueMessage(chosen('2026-11-23T09:00:00Z'), at('acme', 'tenant'));
    expect(await processBatch([message], deps)).toEqual([]);
    expect(store.get(SR)).toMatchObject({ tenant_id: 'acme', status: 'time_chosen' });
    expect(store.get(keys.notification(message.key, 'acme'))).toMatchObject({
      notification_id: message.key,
      tenant_id: 'acme',
      signed_by: 'tenant',
      status: 'applied',
    });
    expect(store.get(keys.notification(message.key))).toBeUndefined();
    // Downstream readers get the field typed.
    expect(parseStreamImage(marshalled(store.get(SR)))).toMatchObject({ tenant_id: 'acme' });
  });

  it('at the shared URL a notification belongs to the tenant of the record it updates; the record keeps it', async () => {
    const { store, deps } = setup();
    await processBatch([queueMessage(chosen('2026-11-23T09:00:00Z'), at('acme', 'tenant'))], deps);
    const shared = queueMessage(rescheduled('2026-11-23T09:05:00Z'));
    await processBatch([shared], deps);
    expect(store.get(SR)).toMatchObject({ tenant_id: 'acme', status: 'rescheduled' });
    // The shared URL's key (the body's digest alone), with the tenant it inherited.
    const record = store.get(keys.notification(shared.key));
    expect(record).toMatchObject({ tenant_id: 'acme', status: 'applied' });
    expect(record?.signed_by).toBeUndefined();
  });

  it('at the shared URL a stale notification still belongs to the tenant of its record', async () => {
    const { store, deps } = setup();
    await processBatch([queueMessage(rescheduled('2026-11-23T09:05:00Z'), at('acme', 'tenant'))], deps);
    const late = queueMessage(chosen('2026-11-23T09:00:00Z'));
    await processBatch([late], deps);
    expect(store.get(keys.notification(late.key))).toMatchObject({ tenant_id: 'acme', status: 'stale' });
  });

  it('a record with no tenant, updated through a tenant URL with the application secret, takes that tenant', async () => {
    const { store, deps } = setup();
    await processBatch([queueMessage(chosen('2026-11-23T09:00:00Z'))], deps);
    expect(store.get(SR)?.tenant_id).toBeUndefined();
    await processBatch([queueMessage(rescheduled('2026-11-23T09:05:00Z'), at('acme', 'application'))], deps);
    expect(store.get(SR)).toMatchObject({ tenant_id: 'acme', status: 'rescheduled' });
  });

  it("the application's secret at another tenant's URL applies, and the record's tenant never changes", async () => {
    const { store, deps } = setup();
    await processBatch([queueMessage(chosen('2026-11-23T09:00:00Z'), at('acme', 'tenant'))], deps);
    const other = queueMessage(rescheduled('2026-11-23T09:05:00Z'), at('globex', 'application'));
    await processBatch([other], deps);
    expect(store.get(SR)).toMatchObject({ tenant_id: 'acme', status: 'rescheduled' });
    // The application's signature binds no tenant: its record is keyed by the digest alone.
    expect(store.get(keys.notification(other.key))).toMatchObject({ tenant_id: 'globex', status: 'applied' });
    expect(store.get(keys.notification(other.key, 'globex'))).toBeUndefined();
  });
});

describe('a notification only a tenant signed never changes a record that is not its tenant’s', () => {
  it("another tenant's record: kept rejected (tenant_mismatch), counted, nothing of it applied", async () => {
    const { store, deps, outcomes, lines } = setup();
    await processBatch([queueMessage(chosen('2026-11-23T09:00:00Z'), at('acme', 'tenant'))], deps);
    const before = structuredClone(store.get(SR));
    const changes = store.changes;
    const forged = queueMessage(rescheduled('2026-11-23T09:05:00Z'), at('globex', 'tenant'));
    expect(await processBatch([forged], deps)).toEqual([]);
    expect(store.get(SR)).toEqual(before);
    expect(store.changes).toBe(changes + 1); // the notification record only
    expect(store.get(keys.notification(forged.key, 'globex'))).toMatchObject({
      status: 'rejected',
      reason: 'tenant_mismatch',
      tenant_id: 'globex',
      signed_by: 'tenant',
    });
    expect(outcomes.at(-1)).toMatchObject({ status: 'rejected', duplicate: false });
    const metrics = emfLines(outcomes, new Date()).map((line) => JSON.parse(line));
    expect(metrics.find((line) => line.TenantMismatches)).toMatchObject({
      type: 'scheduling_request_rescheduled',
      TenantMismatches: 1,
    });
    const warned = lines.map((line) => JSON.parse(line)).filter((line) => line.level === 'warn');
    expect(warned).toEqual([
      expect.objectContaining({ message: 'notification rejected: tenant mismatch', tenantId: 'globex' }),
    ]);
  });

  it('a record with no tenant that exists already: rejected too (it belongs to the application)', async () => {
    const { store, deps } = setup();
    await processBatch([queueMessage(chosen('2026-11-23T09:00:00Z'))], deps);
    const before = structuredClone(store.get(SR));
    const claim = queueMessage(rescheduled('2026-11-23T09:05:00Z'), at('acme', 'tenant'));
    await processBatch([claim], deps);
    expect(store.get(SR)).toEqual(before);
    expect(store.get(keys.notification(claim.key, 'acme'))?.status).toBe('rejected');
  });

  it('a rejection is final: its redelivery is a duplicate that changes nothing', async () => {
    const { store, deps, outcomes } = setup();
    await processBatch([queueMessage(chosen('2026-11-23T09:00:00Z'), at('acme', 'tenant'))], deps);
    // Without triggered_at, so the worker reads the notification record first.
    const forged = queueMessage(
      JSON.stringify({
        ...JSON.parse(rescheduled('2026-11-23T09:05:00Z')),
        notification: { type: 'scheduling_request_rescheduled' },
      }),
      at('globex', 'tenant'),
    );
    await processBatch([forged], deps);
    const changes = store.changes;
    await processBatch([forged, forged], deps);
    expect(store.changes).toBe(changes);
    expect(outcomes.slice(-2)).toEqual([
      expect.objectContaining({ status: 'rejected', duplicate: true }),
      expect.objectContaining({ status: 'rejected', duplicate: true }),
    ]);
  });

  it('the same body at two tenant URLs is two notifications: one cannot suppress or take over the other', async () => {
    const { store, deps } = setup();
    const body = chosen('2026-11-23T09:00:00Z');
    // globex gets there first with the exact bytes, signed by its own secret: its own notification, applied
    // to the record it creates (the id is Cronofy's and unguessable in practice; this is the worst case).
    const first = queueMessage(body, at('globex', 'tenant'));
    const second = queueMessage(body, at('acme', 'tenant'));
    await processBatch([first], deps);
    await processBatch([second], deps);
    expect(store.get(keys.notification(first.key, 'globex'))?.status).toBe('applied');
    expect(store.get(keys.notification(second.key, 'acme'))).toMatchObject({
      status: 'rejected',
      tenant_id: 'acme',
    });
    expect(notificationKey({ notification_id: first.key, tenant_id: 'acme', signed_by: 'tenant' })).not.toBe(
      notificationKey({ notification_id: first.key, tenant_id: 'globex', signed_by: 'tenant' }),
    );
  });
});

describe("a body the application's secret signed is one notification wherever it arrives", () => {
  it('replayed at another tenant URL (or the shared one) it is a duplicate: no record of that tenant, no effect', async () => {
    const { store, deps, outcomes } = setup();
    const conferencing = conferencingBody('conferencing_assigned', { eventId: 'interview-9' });
    const first = queueMessage(conferencing, at('acme', 'application'));
    await processBatch([first], deps);
    await processBatch([queueMessage(conferencing, at('globex', 'application'))], deps);
    await processBatch([queueMessage(conferencing)], deps);
    expect(store.get(keys.event('interview-9', 'acme'))).toMatchObject({ tenant_id: 'acme' });
    expect(store.get(keys.event('interview-9', 'globex'))).toBeUndefined();
    expect(store.get(keys.event('interview-9'))).toBeUndefined();
    // One notification record, the first delivery's, keyed by the digest alone.
    const notifications = [...store.items.values()].filter((item) => item.entity === 'notification');
    expect(notifications).toHaveLength(1);
    expect(notifications[0]).toMatchObject({ pk: keys.notification(first.key), tenant_id: 'acme' });
    expect(outcomes.slice(-2).map((o) => o.duplicate)).toEqual([true, true]);
  });
});

describe('event ids repeat across tenants', () => {
  it("two tenants' events and triggers with one event_id are separate items; the shared URL's keep today's keys", async () => {
    const { store, deps } = setup();
    const conferencing = conferencingBody('conferencing_assigned', { eventId: 'interview-1' });
    const trigger = eventTriggerBody(
      { before: 'event_start', offset: { minutes: 5 } },
      { eventId: 'interview-1' },
    );
    await processBatch(
      [
        queueMessage(conferencing, at('acme', 'tenant')),
        queueMessage(conferencing, at('globex', 'tenant')),
        queueMessage(conferencing),
        queueMessage(trigger, at('acme', 'tenant')),
        queueMessage(trigger, at('globex', 'application')),
      ],
      deps,
    );
    expect(store.get(keys.event('interview-1', 'acme'))).toMatchObject({
      tenant_id: 'acme',
      event_id: 'interview-1',
    });
    expect(store.get(keys.event('interview-1', 'globex'))).toMatchObject({ tenant_id: 'globex' });
    expect(store.get(keys.event('interview-1'))?.tenant_id).toBeUndefined();
    const triggers = [...store.items.values()].filter((item) => item.entity === 'event_trigger');
    expect(triggers.map((item) => item.tenant_id).sort()).toEqual(['acme', 'globex']);
    expect(new Set(triggers.map((item) => item.pk)).size).toBe(2);
    // Every notification applied (none is a duplicate of another tenant's).
    const notifications = [...store.items.values()].filter((item) => item.entity === 'notification');
    expect(notifications.map((item) => item.status)).toEqual(Array(5).fill('applied'));
  });

  it('no event id reaches a tenant key, nor a tenant another tenant or the shared keys', () => {
    expect(keys.event('acme#x')).not.toBe(keys.event('x', 'acme'));
    expect(keys.event('@acme#x')).not.toBe(keys.event('x', 'acme'));
    expect(keys.event('x', 'acme')).not.toBe(keys.event('x', 'acme.'));
    expect(keys.event('x', 'acme')).toBe('event@acme#x');
    expect(keys.notification('sha256:00', 'acme')).toBe('notification@acme#sha256:00');
  });
});

describe('planning and merging with tenants', () => {
  const envelope = (body: string, tenant?: { id: string; signedBy: SignedBy }) =>
    decodeEnvelope(queueMessage(body, tenant ? { tenant } : {}).body);

  it("plans a tenant URL's state writes with its tenant, only-tenant when only its secret signed", () => {
    const body = chosen('2026-11-23T09:00:00Z');
    const now = new Date();
    const own = planNotification(envelope(body, { id: 'acme', signedBy: 'tenant' }), now, {
      retentionDays: 90,
    });
    expect(own.stateWrites[0]).toMatchObject({ tenantId: 'acme', tenantOnly: true });
    const app = planNotification(envelope(body, { id: 'acme', signedBy: 'application' }), now, {
      retentionDays: 90,
    });
    expect(app.stateWrites[0]?.tenantId).toBe('acme');
    expect(app.stateWrites[0]?.tenantOnly).toBeUndefined();
    const shared = planNotification(envelope(body), now, { retentionDays: 90 });
    expect(shared.stateWrites[0]?.tenantId).toBeUndefined();
    expect(shared.notification.tenant_id).toBeUndefined();
  });

  it('merge: refuses a tenant-only write to any record not of its tenant, creates one for it, never re-tenants', () => {
    const write: StateWrite = {
      pk: SR,
      key: 'sha256:aa',
      at: '2026-11-23T09:00:00.000Z',
      triggeredAt: '2026-11-23T09:00:00.000Z',
      common: { entity: 'scheduling_request', scheduling_request_id: 'srq', updated_at: 'now' },
      aspects: [{ aspect: 'lifecycle', set: { status: 'time_chosen' } }],
      tenantId: 'acme',
      tenantOnly: true,
    };
    expect(mergeState(undefined, write)).toMatchObject({ outcome: 'applied', item: { tenant_id: 'acme' } });
    expect(mergeState({ pk: SR, tenant_id: 'acme' }, write).outcome).toBe('applied');
    expect(mergeState({ pk: SR, tenant_id: 'globex' }, write).outcome).toBe('tenant_mismatch');
    expect(mergeState({ pk: SR }, write).outcome).toBe('tenant_mismatch');
    const byApplication = { ...write, tenantOnly: false };
    expect(mergeState({ pk: SR, tenant_id: 'globex' }, byApplication)).toMatchObject({
      outcome: 'applied',
      item: { tenant_id: 'globex' },
    });
  });
});

/** A plain item as DynamoDB JSON (strings only here), as a stream image carries it. */
function marshalled(item: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item ?? {})) {
    if (typeof value === 'string') out[name] = { S: value };
    else if (typeof value === 'number') out[name] = { N: String(value) };
  }
  return out;
}
