import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CronofyFake } from '../../infra/local/cronofy-fake.ts';
import type { LocalStack } from '../../infra/local/stack.ts';
import { runOps } from '../../infra/ops/cli.ts';
import { readSchedulingRecord } from '../support/local-aws.ts';
import { startTestStackWithFake } from '../support/local-mode.ts';

/**
 * The scheduling-request lifecycle in local mode, over HTTP end to end: create from a template through the
 * gateway (bearer credential), the candidate books in the Cronofy fake (a signed notification through the real
 * notification route, queue and worker), the record follows; a reschedule Cronofy never notifies is brought in
 * by `npm run ops -- reconcile`; cancel through the route.
 */

const SECRET = 'CRN_e2e_scheduling_secret';

let stack: LocalStack;
let fake: CronofyFake;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  ({ stack, fake, env } = await startTestStackWithFake('scheduling', SECRET));
});
afterAll(async () => {
  await stack?.stop();
  await fake?.close();
});

async function api(path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${stack.apiToken}`,
      'content-type': 'application/json',
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, string>,
  };
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const record = (id: string) =>
  readSchedulingRecord({ ddb: stack.clients.dynamodb, tableName: stack.tableName }, id);

async function ops(...argv: string[]) {
  let out = '';
  const code = await runOps(argv, {
    stdout: (text) => {
      out += `${text}\n`;
    },
    stderr: (text) => {
      out += `${text}\n`;
    },
    env,
  });
  return { code, out };
}

async function fakeAction(id: string, action: string, body: object) {
  const response = await fetch(`${fake.url}/_fake/scheduling_requests/${id}/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { notification?: { sent: boolean } };
}

describe('scheduling requests in local mode', () => {
  it('create → book (notified) → reschedule (not notified) → ops reconcile → cancel', async () => {
    const created = await api('/scheduling-requests', {
      recipient: { email: 'candidate@example.com', display_name: 'Ada Candidate' },
      template_sub: 'sgr_e2e_template',
      correlation_id: 'CAND-E2E',
      utm_campaign: 'spring',
    });
    expect(created.status).toBe(201);
    const id = created.body.scheduling_request_id as string;
    expect(created.body.url).toMatch(/\/rts\/[\w-]+\?correlation_id=CAND-E2E&utm_campaign=spring$/);
    expect(await record(id)).toMatchObject({ status: 'pending', created_via: 'api' });

    // The candidate opens the link (Cronofy keeps its metadata) and books.
    expect((await fetch(created.body.url as string)).status).toBe(200);
    const booked = await fakeAction(id, 'time_chosen', {
      start: '2031-03-04T09:00:00Z',
      end: '2031-03-04T09:30:00Z',
    });
    expect(booked.notification?.sent).toBe(true);
    await until(async () => (await record(id))?.status === 'time_chosen', 'the time_chosen notification');
    expect(await record(id)).toMatchObject({
      correlation_id: 'CAND-E2E',
      metadata: { correlation_id: 'CAND-E2E', utm_campaign: 'spring' },
      event: { start: { time: '2031-03-04T09:00:00Z' } },
      select_url: expect.stringContaining('/rts/'),
    });

    // Rescheduled without a notification: only reconciliation can bring it in.
    await fakeAction(id, 'rescheduled', {
      start: '2031-03-06T15:00:00Z',
      end: '2031-03-06T15:45:00Z',
      notify: false,
    });
    const dry = await ops('reconcile', id, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`Would change (missed notifications): ${id}`);
    expect((await record(id))?.event).toMatchObject({ start: { time: '2031-03-04T09:00:00Z' } });

    const run = await ops('reconcile', id);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^Reconciled 1 scheduling request\(s\) with 1 Cronofy call\(s\)/);
    expect(run.out).toContain(`Changed (missed notifications): ${id}`);
    const reconciled = await record(id);
    expect(reconciled).toMatchObject({
      status: 'time_chosen',
      event: { start: { time: '2031-03-06T15:00:00Z' }, end: { time: '2031-03-06T15:45:00Z' } },
      open_until: '2031-03-06T15:45:00.000Z',
      reconciled_at: expect.any(String),
    });
    // Nothing more to do the second time.
    expect((await ops('reconcile', '--all-open', '--json')).out).toContain('"changed": []');

    const cancelled = await api(`/scheduling-requests/${id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(await record(id)).toMatchObject({ status: 'cancelled' });
    expect(fake.stats.cancelled).toBe(1);
  });

  it('refuses callers without the credential, and returns the first answer for a repeated Idempotency-Key', async () => {
    const refused = await fetch(`${stack.url}/scheduling-requests`, { method: 'POST', body: '{}' });
    expect(refused.status).toBe(403);
    const body = {
      recipient: { email: 'b@example.com', display_name: 'B' },
      host_sub: 'acc_e2e_host',
      summary: 'Phone screen',
      duration_minutes: 20,
    };
    const before = fake.stats.created;
    const first = await api('/scheduling-requests', body, { 'Idempotency-Key': 'e2e-key-1' });
    const second = await api('/scheduling-requests', body, { 'Idempotency-Key': 'e2e-key-1' });
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(fake.stats.created - before).toBe(1);
  });

  it('answers 404 unknown_tenant for a tenant nobody registered, creating nothing, and 400 for a malformed one', async () => {
    const body = {
      recipient: { email: 'c@example.com', display_name: 'C' },
      template_sub: 'sgr_e2e_tenant',
    };
    const before = fake.stats.created;
    const unknown = await api('/scheduling-requests', { ...body, tenant_id: 'never-registered' });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: 'unknown_tenant' });
    const malformed = await api('/scheduling-requests', { ...body, tenant_id: 'not a tenant' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.message).toMatch(/^tenant_id must be/);
    expect(fake.stats.created).toBe(before);
  });
});
