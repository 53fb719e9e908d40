import { randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { keys } from '#shared/contract/keys.ts';
import { idempotencyKey } from '#shared/notifications/envelope.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { DEFAULT_API_TOKEN } from '../../infra/local/gateway.ts';
import { dynamoClient } from '../../infra/local/services.ts';
import { localCronofyApiUrl, localEndpoints } from '../../infra/local-mode.ts';
import { reconcileLocal } from '../../infra/ops/reconcile.ts';
import {
  differences,
  expectedLifecycle,
  inParallel,
  type Json,
  type Lifecycle,
  localModeMissing,
  object,
  readRecord,
  recordLifecycle,
  sleep,
} from './api-requests.ts';
import { isoSeconds } from './payloads.ts';
import type { ProgressStream } from './progress.ts';

/**
 * `npm run sim -- --tenants N`: an integrator with N customers (tenants), each with its own Organizational Unit,
 * against a running local mode and its Cronofy fake, through the real routes only:
 *
 * 1. onboards each tenant: `PUT /tenants/{id}` with a client secret of its own, `POST …/onboarding`, the
 *    connect URL followed at the fake (which consents) back to the callback, and `GET /tenants/{id}` connected;
 * 2. creates requests in each (`POST /scheduling-requests` with `tenant_id`), checks each landed in its
 *    tenant's OU at the fake, and books them three ways: notified by the fake (the shared URL, the application's
 *    secret), made silently and notified by the sim at the tenant's URL signed with the tenant's own secret
 *    (which must apply), or silent (left to reconciliation);
 * 3. expires every access token at the fake and makes calls for every tenant at once, through the gateway and
 *    from this process (a reconciliation): one refresh per tenant (the fake's per-OU counters);
 * 4. disconnects the last tenant's OU at the fake: its next call answers `409 tenant_disconnected` and its
 *    status is `disconnected`;
 * 5. forges, for each tenant, a notification of its request signed by the next tenant's own secret at that
 *    tenant's URL, and one for a request of no tenant signed by the first tenant's (each must be kept
 *    `rejected` and change nothing), and posts to an unknown tenant's URL (the very `401` of a bad signature);
 * 6. reconciles every open request (as `npm run ops -- reconcile --all-open`, in this process: it reads the
 *    tenants' tokens from local mode's tenants table), then checks every record: its `tenant_id`, its OU at the
 *    fake, and its state (what the fake holds; for the disconnected tenant, what was notified).
 */

export const TENANTS_HELP = `Tenants (local mode only)
  --tenants N            instead of sending notifications: onboard N tenants (2–50) through PUT /tenants/{id},
                         POST …/onboarding and the fake's Organization Connect; create and book requests in
                         each (notified by the fake, signed by the tenant at its own URL, or silent); expire
                         every token, call for all at once (one refresh per tenant); disconnect one tenant's
                         OU (409 tenant_disconnected); forge notifications across tenants and for a request of
                         no tenant (kept rejected); reconcile every open request; check every record's
                         tenant_id, OU and state. Uses --concurrency, --verify-timeout, --json, --no-progress.
  --per-tenant M         requests booked per tenant (1–100, default 6); 3 more each after the expiry`;

/** Calls per tenant made at once right after every token expired. */
export const CALLS_AFTER_EXPIRY = 3;
/** Answers to retry a create on (same Idempotency-Key), honouring Retry-After, and how often. */
const RETRYABLE = new Set([429, 503]);
const CREATE_ATTEMPTS = 8;

export interface TenantsSettings {
  tenants: number;
  perTenant: number;
  concurrency: number;
  verifyTimeoutMs: number;
  json: boolean;
  progress: boolean;
}

export interface TenantsIo {
  stdout: (text: string) => void;
  stderr: ProgressStream;
  env: NodeJS.ProcessEnv;
}

type Delivery = 'notified' | 'tenant_signed' | 'silent' | 'none';

export interface TenantFigures {
  tenant_id: string;
  organizational_unit?: string;
  status: string;
  requests: number;
  refreshes: number;
}

export interface TenantsReport {
  gateway: string;
  cronofyApi: string;
  runId: string;
  tenants: TenantFigures[];
  /** Tenants connected by onboarding. */
  connected: number;
  requests: number;
  /** Requests booked, by how the booking reached the records. */
  booked: Record<Exclude<Delivery, 'none'>, number>;
  /** Refreshes at the fake after one expiry of every token: one per tenant expected. */
  refreshes: { total: number; tenantsWithOne: number };
  /** The disconnected tenant: its next create's answer, its status, and the answer to cancelling a request. */
  disconnected: { tenant_id: string; answer: number; error?: string; status: string; cancel?: number };
  /** Notifications signed by a tenant's own secret at its own URL: each must apply. */
  tenantSigned: { sent: number; applied: number };
  /** Another tenant's request (or one of no tenant), signed by a tenant's own secret at its URL: kept rejected. */
  forgeries: { sent: number; accepted: number; rejected: number; unchanged: number };
  unknownTenant: { status: number; sameAsBadSignature: boolean };
  reconcile: {
    calls: number;
    checked: number;
    changed: number;
    unchanged: number;
    skipped: number;
    failed: number;
    notFound: number;
    error?: string;
  };
  /** Records whose tenant_id, or requests whose OU at the fake, is not their tenant's. */
  crossed: number;
  /** Records that do not end as expected (the fake's state; the disconnected tenant's: what was notified). */
  mismatches: number;
  findings: string[];
  ok: boolean;
}

interface Tenant {
  id: string;
  secret: string;
  ou?: string;
  status: string;
  requests: Tracked[];
}

interface Tracked {
  id: string;
  tenant: Tenant;
  correlationId: string;
  delivery: Delivery;
  lastNotified?: 'time_chosen';
  notifiedState: Lifecycle;
  /** The notification record the sim's own tenant-signed notification must leave. */
  notificationKey?: string;
}

class RunStopped extends Error {
  override readonly name = 'RunStopped';
}

/** A Scheduler notification as the fake sends it, for the request object the fake shows. */
function notificationBody(type: string, schedulingRequest: unknown): string {
  return JSON.stringify({
    notification: { type: `scheduling_request_${type}`, triggered_at: isoSeconds(new Date()) },
    user: { tzid: 'Etc/UTC' },
    scheduling_request: schedulingRequest,
  });
}

/** The request object moved by `days`: a reschedule no one made at Cronofy. */
function movedBy(schedulingRequest: Json, days: number): Json {
  const event = object(schedulingRequest.event);
  const move = (value: unknown) => {
    const time = object(value);
    return { ...time, time: isoSeconds(new Date(Date.parse(String(time.time)) + days * 86_400_000)) };
  };
  return { ...schedulingRequest, event: { ...event, start: move(event.start), end: move(event.end) } };
}

/** JSON with sorted keys, to compare a record before and after. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Json).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );

async function readItem(ddb: DynamoDBClient, tableName: string, pk: string) {
  const result = await ddb.send(
    new GetItemCommand({ TableName: tableName, Key: { pk: { S: pk } }, ConsistentRead: true }),
  );
  return result.Item ? (unmarshall(result.Item) as Json) : undefined;
}

export async function runTenants(settings: TenantsSettings, io: TenantsIo): Promise<number> {
  const endpoints = localEndpoints(io.env);
  const fakeUrl = localCronofyApiUrl(io.env);
  const token = io.env.LOCAL_API_TOKEN || DEFAULT_API_TOKEN;
  const runId = randomBytes(4).toString('hex');
  const say = (text: string) => (settings.json ? io.stderr.write(`${text}\n`) : io.stdout(text));
  const phase = (text: string) => settings.progress && io.stderr.write(`${text}\n`);
  say(
    [
      `Cronofy simulator → ${endpoints.gateway} (tenants, scheduling requests, notifications), Organization Connect at the Cronofy fake ${fakeUrl}`,
      `  ${settings.tenants} tenants, ${settings.perTenant} booked request${settings.perTenant === 1 ? '' : 's'} each, run ${runId}`,
    ].join('\n'),
  );
  const missing = await localModeMissing(io.env);
  if (missing) {
    io.stderr.write(`${missing}\n`);
    return 1;
  }

  const findings: string[] = [];
  const gateway = async (method: string, path: string, body?: unknown, headers: Json = {}) => {
    const response = await fetch(`${endpoints.gateway}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    let json: Json = {};
    try {
      json = object(JSON.parse(text));
    } catch {
      // a page, or nothing
    }
    if (response.status === 401 && path.startsWith('/tenants'))
      throw new RunStopped(
        'the gateway refuses the local credential (401): give this command the same LOCAL_API_TOKEN as npm start',
      );
    return { status: response.status, body: json, text, headers: response.headers };
  };
  const fake = async (method: string, path: string, body?: Json) => {
    const response = await fetch(`${fakeUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: object(await response.json().catch(() => ({}))) };
  };
  const notify = (path: string, body: string, secret: string) =>
    fetch(`${endpoints.gateway}/cronofy/notifications${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cronofy-hmac-sha256': signBody(body, secret) },
      body,
    }).then(async (response) => ({ status: response.status, text: await response.text() }));

  const tenants: Tenant[] = Array.from({ length: settings.tenants }, (_, i) => ({
    id: `sim-${runId}-${i + 1}`,
    secret: `CRN_sim_tenant_${randomBytes(16).toString('hex')}`,
    status: 'unregistered',
    requests: [],
  }));
  const connected = () => tenants.filter((tenant) => tenant.status === 'connected');

  // 1. Onboarding, as an integrator's admin page and the customer's admin would go through it.
  phase(`onboarding ${settings.tenants} tenants…`);
  const onboard = async (tenant: Tenant) => {
    const put = await gateway('PUT', `/tenants/${tenant.id}`, {
      name: `Sim Tenant ${tenant.id}`,
      client_secrets: [tenant.secret],
    });
    if (put.status !== 201) return findings.push(`${tenant.id}: PUT /tenants answered ${put.status}`);
    const onboarding = await gateway('POST', `/tenants/${tenant.id}/onboarding`);
    const connectUrl = String(onboarding.body.connect_url ?? '');
    if (onboarding.status !== 200 || !connectUrl.startsWith(`${fakeUrl}/oauth/authorize?`))
      return findings.push(
        `${tenant.id}: onboarding answered ${onboarding.status} without a connect URL at the fake`,
      );
    const consent = await fetch(connectUrl, { redirect: 'manual' });
    await consent.arrayBuffer();
    const callback = consent.headers.get('location') ?? '';
    if (consent.status !== 302 || !callback.startsWith(`${endpoints.gateway}/oauth/cronofy/callback?`))
      return findings.push(
        `${tenant.id}: the fake's consent answered ${consent.status}, not a redirect to the callback`,
      );
    const back = await fetch(callback, { redirect: 'manual' });
    await back.arrayBuffer();
    if (back.status >= 400) return findings.push(`${tenant.id}: the callback answered ${back.status}`);
    tenant.status = String((await gateway('GET', `/tenants/${tenant.id}`)).body.status);
    if (tenant.status !== 'connected') findings.push(`${tenant.id}: ${tenant.status} after the callback`);
  };

  // 2. Requests in each tenant, each in its tenant's OU.
  const create = async (tenant: Tenant | undefined, label: string) => {
    for (let attempt = 1; ; attempt++) {
      const answer = await gateway(
        'POST',
        '/scheduling-requests',
        {
          ...(tenant ? { tenant_id: tenant.id } : {}),
          recipient: { email: `sim-${runId}-${label}@example.com`, display_name: `Sim Candidate ${label}` },
          template_sub: 'sgr_sim_template',
          correlation_id: `SIM-${runId}-${label}`,
        },
        { 'idempotency-key': `sim-${runId}-${label}` },
      );
      if (answer.status === 401 || answer.status === 403)
        throw new RunStopped(
          `the gateway refuses the local credential (${answer.status}): give this command the same LOCAL_API_TOKEN as npm start`,
        );
      if (!RETRYABLE.has(answer.status) || attempt === CREATE_ATTEMPTS) return answer;
      await sleep(Math.min(Number(answer.headers.get('retry-after') ?? 1), 30) * 1000);
    }
  };
  const track = async (tenant: Tenant, label: string): Promise<Tracked | undefined> => {
    const answer = await create(tenant, label);
    if (answer.status !== 201) {
      findings.push(
        `${tenant.id}: POST /scheduling-requests answered ${answer.status} ${answer.text.slice(0, 120)}`,
      );
      return undefined;
    }
    const id = String(answer.body.scheduling_request_id);
    await (await fetch(String(answer.body.url))).arrayBuffer();
    const shown = await fake('GET', `/_fake/scheduling_requests/${id}`);
    const correlationId = `SIM-${runId}-${label}`;
    const tracked: Tracked = {
      id,
      tenant,
      correlationId,
      delivery: 'none',
      notifiedState: expectedLifecycle(shown.body, undefined, correlationId),
    };
    tenant.requests.push(tracked);
    return tracked;
  };

  const ddb = dynamoClient(endpoints.dynamodb);
  /** A request of no tenant, booked with the fake's notification: its id once its record shows the booking. */
  const applicationRequest = async (): Promise<string | undefined> => {
    const answer = await create(undefined, 'application');
    const id = String(answer.body.scheduling_request_id);
    const step = await fake('POST', `/_fake/scheduling_requests/${id}/time_chosen`, {});
    if (answer.status !== 201 || object(step.body.notification).sent !== true) {
      findings.push(`a request without a tenant: created ${answer.status}, booking ${step.status}`);
      return undefined;
    }
    const until = Date.now() + settings.verifyTimeoutMs;
    while ((await readRecord(ddb, endpoints.tableName, id))?.status !== 'time_chosen') {
      if (Date.now() > until) {
        findings.push(`${id} (no tenant): its booking was not applied within ${settings.verifyTimeoutMs} ms`);
        return undefined;
      }
      await sleep(100);
    }
    return id;
  };
  const booked: TenantsReport['booked'] = { notified: 0, tenant_signed: 0, silent: 0 };
  const tenantSigned = { sent: 0, applied: 0 };
  const refreshCounts = new Map<string, number>();
  let disconnected: TenantsReport['disconnected'] = { tenant_id: '', answer: 0, status: '' };
  const forgeries = { sent: 0, accepted: 0, rejected: 0, unchanged: 0 };
  let unknownTenant = { status: 0, sameAsBadSignature: false };
  const reconciled: TenantsReport['reconcile'] = {
    calls: 0,
    checked: 0,
    changed: 0,
    unchanged: 0,
    skipped: 0,
    failed: 0,
    notFound: 0,
  };
  let onboarded = 0;
  let crossed = 0;
  let mismatches = 0;
  try {
    await inParallel(tenants, settings.concurrency, onboard);
    onboarded = connected().length;

    phase(`creating ${settings.perTenant} requests in each connected tenant and booking them…`);
    const plan = connected().flatMap((tenant, t) =>
      Array.from({ length: settings.perTenant }, (_, i) => ({ tenant, label: `${t + 1}-${i + 1}`, i })),
    );
    await inParallel(plan, settings.concurrency, async ({ tenant, label, i }) => {
      const request = await track(tenant, label);
      if (!request) return;
      const delivery = (['notified', 'tenant_signed', 'silent'] as const)[i % 3] ?? 'silent';
      const step = await fake('POST', `/_fake/scheduling_requests/${request.id}/time_chosen`, {
        notify: delivery === 'notified',
      });
      if (step.status !== 200)
        return findings.push(`${request.id}: the fake answered ${step.status} to time_chosen`);
      request.delivery = delivery;
      booked[delivery]++;
      if (delivery === 'silent') return;
      if (delivery === 'notified' && object(step.body.notification).sent !== true)
        return findings.push(`${request.id}: the fake's notification was not delivered`);
      if (delivery === 'tenant_signed') {
        // As the tenant's own Internal Application would send it: to the tenant's URL, signed with its secret.
        const body = notificationBody('time_chosen', step.body.scheduling_request);
        tenantSigned.sent++;
        const answer = await notify(`/${tenant.id}`, body, tenant.secret);
        if (answer.status !== 202)
          return findings.push(`${request.id}: the tenant-signed notification answered ${answer.status}`);
        request.notificationKey = keys.notification(idempotencyKey(Buffer.from(body)), tenant.id);
      }
      request.lastNotified = 'time_chosen';
      request.notifiedState = expectedLifecycle(step.body, 'time_chosen', request.correlationId);
    });
    const tracked = () => tenants.flatMap((tenant) => tenant.requests);

    // Every request in its own tenant's OU, one OU per tenant.
    await inParallel(tracked(), settings.concurrency, async (request) => {
      const ou = String(
        (await fake('GET', `/_fake/scheduling_requests/${request.id}`)).body.organizational_unit,
      );
      request.tenant.ou ??= ou;
      if (ou !== request.tenant.ou) {
        crossed++;
        findings.push(`${request.id}: created in ${ou}, its tenant's other requests in ${request.tenant.ou}`);
      }
    });
    const ous = connected().map((tenant) => tenant.ou);
    if (new Set(ous).size !== ous.length) {
      crossed++;
      findings.push(`two tenants share an Organizational Unit: ${ous.join(', ')}`);
    }

    // The bookings reach the records: through the shared URL (the fake's) and the tenants' URLs (the sim's).
    phase('waiting for the notifications to be applied…');
    const deadline = Date.now() + settings.verifyTimeoutMs;
    const behindNotified = async () => {
      const waiting: string[] = [];
      await inParallel(tracked(), settings.concurrency, async (request) => {
        const problems = differences(
          recordLifecycle(await readRecord(ddb, endpoints.tableName, request.id)),
          request.notifiedState,
        );
        if (problems.length > 0) waiting.push(`${request.id}: ${problems.join('; ')}`);
      });
      return waiting;
    };
    let waiting = await behindNotified();
    while (waiting.length > 0 && Date.now() < deadline) {
      await sleep(250);
      waiting = await behindNotified();
    }
    for (const line of waiting)
      findings.push(`notified booking not applied within ${settings.verifyTimeoutMs} ms: ${line}`);
    // The notification record is written after the state it applied: it may trail the record by a moment.
    const recorded = Date.now() + settings.verifyTimeoutMs;
    for (const request of tracked().filter((r) => r.notificationKey)) {
      let record = await readItem(ddb, endpoints.tableName, request.notificationKey as string);
      while (!record && Date.now() < recorded) {
        await sleep(100);
        record = await readItem(ddb, endpoints.tableName, request.notificationKey as string);
      }
      if (
        record?.status === 'applied' &&
        record.tenant_id === request.tenant.id &&
        record.signed_by === 'tenant'
      )
        tenantSigned.applied++;
      else
        findings.push(
          `${request.id}: its tenant-signed notification is ${record ? `${String(record.status)} for ${String(record.tenant_id)}` : 'not recorded'}, not applied for ${request.tenant.id}`,
        );
    }

    // 3. Every access token expires; every tenant is called for at once, from two processes (npm start's
    // functions, and a reconciliation here of requests already up to date): one refresh each.
    phase('expiring every access token and calling for every tenant at once…');
    const oauthBefore = object((await fake('GET', '/_fake/oauth')).body.tokenRefreshesByOu);
    await fake('POST', '/_fake/tokens/expire');
    const upToDate = tracked()
      .filter((request) => request.delivery === 'notified')
      .map((request) => request.id);
    const [concurrentReconcile] = await Promise.all([
      upToDate.length > 0
        ? reconcileLocal({ ids: upToDate, allOpen: false, dryRun: false }, io.env)
        : undefined,
      ...connected().flatMap((tenant, t) =>
        Array.from({ length: CALLS_AFTER_EXPIRY }, (_, i) => track(tenant, `${t + 1}-after-expiry-${i + 1}`)),
      ),
    ]);
    if (concurrentReconcile && (concurrentReconcile.failed.length > 0 || concurrentReconcile.error))
      findings.push(
        `a reconciliation during the refreshes failed for ${concurrentReconcile.failed.join(', ') || 'all'}${concurrentReconcile.error ? `: ${concurrentReconcile.error}` : ''}`,
      );
    const oauthAfter = object((await fake('GET', '/_fake/oauth')).body.tokenRefreshesByOu);
    for (const tenant of connected()) {
      const ou = tenant.ou ?? '';
      const count = Number(oauthAfter[ou] ?? 0) - Number(oauthBefore[ou] ?? 0);
      refreshCounts.set(tenant.id, count);
      if (count !== 1) findings.push(`${tenant.id}: ${count} refreshes after one expiry, not 1`);
    }

    // 4. A customer's admin removes the application in Cronofy.
    const gone = connected().at(-1);
    if (gone?.ou) {
      phase(`disconnecting ${gone.id}'s Organizational Unit at the fake…`);
      await fake('POST', `/_fake/organizational_units/${gone.ou}/disconnect`);
      const answer = await create(gone, `${tenants.indexOf(gone) + 1}-after-disconnect`);
      const status = String((await gateway('GET', `/tenants/${gone.id}`)).body.status);
      disconnected = {
        tenant_id: gone.id,
        answer: answer.status,
        ...(typeof answer.body.error === 'string' ? { error: answer.body.error } : {}),
        status,
      };
      gone.status = status;
      if (
        answer.status !== 409 ||
        answer.body.error !== 'tenant_disconnected' ||
        answer.body.tenant_id !== gone.id
      )
        findings.push(
          `${gone.id}: after the disconnect a call answered ${answer.status} ${answer.text.slice(0, 120)}`,
        );
      if (status !== 'disconnected') findings.push(`${gone.id}: ${status} after the disconnect`);
      // Cancelling one of its requests is a call for it too: refused the same way, nothing cancelled.
      const request = gone.requests[0];
      if (request) {
        const cancel = await gateway('POST', `/scheduling-requests/${request.id}/cancel`, {});
        const state = (await fake('GET', `/_fake/scheduling_requests/${request.id}`)).body.state;
        disconnected.cancel = cancel.status;
        if (cancel.status !== 409 || cancel.body.error !== 'tenant_disconnected' || state === 'cancelled')
          findings.push(
            `${request.id}: its disconnected tenant's cancel answered ${cancel.status}, ${String(state)} at the fake`,
          );
      }
    }

    // 5. Forgeries: the next tenant's own secret, at its own URL, for this tenant's request; and the first
    // tenant's for a request of no tenant (the application's own, created and booked without a tenant_id).
    phase('forging notifications across tenants…');
    const targets: { id: string; forger: Tenant }[] = [];
    for (const [t, tenant] of tenants.entries()) {
      const target = tenant.requests.find((request) => request.lastNotified !== undefined);
      if (target) targets.push({ id: target.id, forger: tenants[(t + 1) % tenants.length] as Tenant });
    }
    const untenanted = await applicationRequest();
    if (untenanted) targets.push({ id: untenanted, forger: tenants[0] as Tenant });
    const forged: { id: string; before: Json | undefined; key: string }[] = [];
    for (const { id, forger } of targets) {
      const before = await readRecord(ddb, endpoints.tableName, id);
      const shown = object((await fake('GET', `/_fake/scheduling_requests/${id}`)).body.scheduling_request);
      const body = notificationBody('rescheduled', movedBy(shown, 3));
      forgeries.sent++;
      const answer = await notify(`/${forger.id}`, body, forger.secret);
      if (answer.status === 202) forgeries.accepted++;
      else
        findings.push(
          `a forgery at ${forger.id}'s URL answered ${answer.status}, not 202 (kept and rejected)`,
        );
      forged.push({ id, before, key: keys.notification(idempotencyKey(Buffer.from(body)), forger.id) });
    }
    const probe = notificationBody('rescheduled', { scheduling_request_id: `srq_sim_${runId}` });
    const first = tenants[0] as Tenant;
    const unknown = await notify(`/sim-${runId}-unknown`, probe, first.secret);
    const badSignature = await notify(
      `/${first.id}`,
      probe,
      `CRN_sim_wrong_${randomBytes(8).toString('hex')}`,
    );
    unknownTenant = {
      status: unknown.status,
      sameAsBadSignature: unknown.status === badSignature.status && unknown.text === badSignature.text,
    };
    if (unknown.status !== 401 || !unknownTenant.sameAsBadSignature)
      findings.push(
        `an unknown tenant's URL answered ${unknown.status} ${unknown.text.slice(0, 80)}; a bad signature ${badSignature.status} ${badSignature.text.slice(0, 80)}`,
      );
    const forgeryDeadline = Date.now() + settings.verifyTimeoutMs;
    for (const { id, before, key } of forged) {
      let record = await readItem(ddb, endpoints.tableName, key);
      while (!record && Date.now() < forgeryDeadline) {
        await sleep(250);
        record = await readItem(ddb, endpoints.tableName, key);
      }
      if (record?.status === 'rejected' && record.reason === 'tenant_mismatch') forgeries.rejected++;
      else
        findings.push(
          `${id}: a forgery for it is ${record ? `${String(record.status)} (${String(record.reason)})` : 'not recorded'}, not rejected (tenant_mismatch)`,
        );
      const after = await readRecord(ddb, endpoints.tableName, id);
      if (canonical(after) === canonical(before)) forgeries.unchanged++;
      else {
        crossed++;
        findings.push(`${id}: changed by another tenant's forgery`);
      }
    }

    // 6. Reconciliation of every open request, then every record checked.
    phase('reconciling every open request…');
    const skipped = new Set<string>();
    const changed = new Set<string>();
    for (let run = 0; run < 100; run++) {
      const report = await reconcileLocal({ ids: [], allOpen: true, dryRun: false }, io.env);
      reconciled.calls += report.calls;
      reconciled.checked += report.checked;
      reconciled.unchanged += report.unchanged;
      for (const id of report.changed) changed.add(id);
      for (const id of report.skipped) skipped.add(id);
      const ours = new Set(tracked().map((request) => request.id));
      for (const id of [...report.failed, ...report.notFound].filter((id) => ours.has(id)))
        findings.push(
          `${id}: reconciliation ${report.failed.includes(id) ? 'failed' : 'found no such request'}`,
        );
      reconciled.failed += report.failed.length;
      reconciled.notFound += report.notFound.length;
      if (report.error) {
        reconciled.error = report.error;
        findings.push(`reconciliation stopped: ${report.error}`);
        break;
      }
      if (report.remaining === 0) break;
    }
    reconciled.changed = changed.size;
    reconciled.skipped = skipped.size;

    phase('checking every record…');
    await inParallel(tracked(), settings.concurrency, async (request) => {
      const record = await readRecord(ddb, endpoints.tableName, request.id);
      const shown = (await fake('GET', `/_fake/scheduling_requests/${request.id}`)).body;
      if (record?.tenant_id !== request.tenant.id || shown.organizational_unit !== request.tenant.ou) {
        crossed++;
        findings.push(
          `${request.id}: record of ${String(record?.tenant_id)}, in ${String(shown.organizational_unit)} at the fake; its tenant is ${request.tenant.id} (${request.tenant.ou})`,
        );
      }
      const isGone = request.tenant.status === 'disconnected';
      if (isGone && changed.has(request.id))
        findings.push(`${request.id}: reconciled although its tenant is disconnected`);
      const expected = isGone
        ? request.notifiedState
        : expectedLifecycle(shown, request.lastNotified, request.correlationId);
      const problems = differences(recordLifecycle(record), expected);
      if (problems.length > 0) {
        mismatches++;
        findings.push(`${request.id} (${request.tenant.id}): ${problems.join('; ')}`);
      }
    });
  } catch (error) {
    if (!(error instanceof RunStopped)) throw error;
    io.stderr.write(`Stopped early: ${error.message}\n`);
    return 1;
  } finally {
    ddb.destroy();
  }

  const figures: TenantFigures[] = tenants.map((tenant) => ({
    tenant_id: tenant.id,
    ...(tenant.ou ? { organizational_unit: tenant.ou } : {}),
    status: tenant.status,
    requests: tenant.requests.length,
    refreshes: refreshCounts.get(tenant.id) ?? 0,
  }));
  const report: TenantsReport = {
    gateway: endpoints.gateway,
    cronofyApi: fakeUrl,
    runId,
    tenants: figures,
    connected: onboarded,
    requests: figures.reduce((sum, tenant) => sum + tenant.requests, 0),
    booked,
    refreshes: {
      total: [...refreshCounts.values()].reduce((sum, n) => sum + n, 0),
      tenantsWithOne: [...refreshCounts.values()].filter((n) => n === 1).length,
    },
    disconnected,
    tenantSigned,
    forgeries,
    unknownTenant,
    reconcile: reconciled,
    crossed,
    mismatches,
    findings,
    ok: findings.length === 0,
  };
  io.stdout(settings.json ? JSON.stringify(report, null, 2) : formatTenantsReport(report));
  return report.ok ? 0 : 1;
}

/** The summary for people: one line per phase, the findings, then the figures on one line. */
export function formatTenantsReport(report: TenantsReport): string {
  const r = report.reconcile;
  const f = report.forgeries;
  const d = report.disconnected;
  const perTenant = report.tenants.map((tenant) => tenant.requests).join('/');
  return [
    `  tenants    ${report.tenants.length} onboarded through PUT /tenants, onboarding and the fake's consent: ${report.connected} connected, each its own OU`,
    ...report.tenants.map(
      (tenant) =>
        `    ${tenant.tenant_id.padEnd(20)} ${String(tenant.organizational_unit ?? '-').padEnd(20)} ${tenant.status.padEnd(12)} requests ${tenant.requests}  refreshes ${tenant.refreshes}`,
    ),
    `  requests   ${report.requests} (${perTenant} per tenant); booked: notified by the fake ${report.booked.notified}, signed by the tenant at its URL ${report.booked.tenant_signed} (${report.tenantSigned.applied} applied), silent ${report.booked.silent}`,
    `  refreshes  ${report.refreshes.total} after one expiry of every token (${report.refreshes.tenantsWithOne} tenant(s) with exactly one)`,
    `  disconnect ${d.tenant_id || '-'}: the next call answered ${d.answer}${d.error ? ` ${d.error}` : ''}, status ${d.status || '-'}, a cancel ${d.cancel ?? '-'}`,
    `  forgeries  ${f.sent} sent (across tenants, and one for a request of no tenant): ${f.accepted} accepted (202), ${f.rejected} kept rejected (tenant_mismatch), ${f.unchanged} records unchanged; an unknown tenant's URL answered ${report.unknownTenant.status}${report.unknownTenant.sameAsBadSignature ? ', as a bad signature' : ', NOT as a bad signature'}`,
    `  reconcile  ${r.checked} checked with ${r.calls} Cronofy call(s): ${r.changed} changed, ${r.unchanged} unchanged, ${r.skipped} skipped (disconnected tenant)${r.failed ? `, ${r.failed} failed` : ''}`,
    ...report.findings.map((finding) => `  ! ${finding}`),
    `tenants ${report.tenants.length}  connected ${report.connected}${d.status === 'disconnected' ? ' (1 disconnected on purpose)' : ''}  requests/tenant ${perTenant}  refreshes ${report.refreshes.total}/${report.refreshes.tenantsWithOne}  rejected ${f.rejected}/${f.sent}  crossed ${report.crossed}  mismatches ${report.mismatches}`,
    report.ok ? 'OK' : 'FAILED',
  ].join('\n');
}
