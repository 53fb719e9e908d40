import { randomUUID } from 'node:crypto';
import * as z from 'zod/mini';
import { METADATA_KEYS, sha256Hex } from '../contract/keys.ts';
import { SCHEDULING_REQUEST_BODY_MAX_BYTES as MAX_BODY_BYTES } from '../contract/limits.ts';
import { isTenantId, TENANT_ID_RULE } from '../contract/tenants.ts';
import {
  DomainError,
  IdempotencyKeyReusedError,
  InProgressError,
  InvalidRequestError,
  NotFoundError,
  TenantUnavailableError,
  UnavailableError,
  UnknownTenantError,
  UpstreamCredentialError,
  UpstreamError,
  UpstreamRejectedError,
  UpstreamUnavailableError,
} from '../core/errors.ts';
import type { SchedulingRequestCancelled, SchedulingRequestCreated } from '../core/outcomes.ts';
import type {
  Clock,
  CreatedRequest,
  IdempotencyState,
  IdempotencyStore,
  Logger,
  SchedulingRequestStore,
} from '../core/ports.ts';
import { textField } from '../core/text-field.ts';
import type { CronofyApi, NewSchedulingRequest, SchedulingRequest } from '../cronofy/api.ts';
import {
  CredentialRejectedError,
  CronofyApiError,
  CronofyNotFoundError,
  CronofyUnavailableError,
  CronofyValidationError,
} from '../cronofy/api-errors.ts';

/**
 * `POST /scheduling-requests` and `POST /scheduling-requests/{id}/cancel`: create or cancel a Scheduling Request
 * in Cronofy (https://docs.cronofy.com/developers/api/scheduling-requests/) and record it. Plain functions over
 * ports (Cronofy's API, the store, the clock) that return outcomes and throw the typed errors of core/errors.ts;
 * the Lambda handler is functions/scheduling-requests/handler.ts, and shared/edge/http.ts gives the answers.
 *
 * Idempotency (`Idempotency-Key`, optional, per caller and tenant, 24 hours): Cronofy's create takes no
 * idempotency key, so this service keeps one item per key and moves it through `in_progress` → `created` →
 * `completed`:
 * 1. before calling Cronofy, a conditional put of the item (`in_progress`, a lease, the body's fingerprint): of
 *    concurrent requests with one key exactly one gets it; the others wait for its answer (polling the item,
 *    up to `waitMs`) and return it, or get an InProgressError (retry later) when it takes longer;
 * 2. the moment Cronofy answers, the answer is written to the item (`created`), before anything else;
 * 3. then the `scheduling_request` record, then the item is marked `completed`.
 * A crash after 2 is recovered by the retry: it finds `created`, writes the record (an idempotent write) and
 * returns the same answer. A crash between Cronofy's answer and write 2 (one DynamoDB round trip) is the window
 * that cannot be closed without an idempotency key on Cronofy's side: once the lease runs out, a retry creates
 * the request again. A Cronofy error releases the item, so a retry calls Cronofy again.
 */

export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;
const MAX_METADATA_LENGTH = 128;
/** Idempotency keys are remembered this long (DynamoDB's TTL removes them later). */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

export type {
  CreatedRequest,
  IdempotencyState,
  IdempotencyStore,
  SchedulingRequestStore,
} from '../core/ports.ts';

export interface SchedulingRequestDeps {
  api: CronofyApi;
  store: SchedulingRequestStore;
  idempotency: IdempotencyStore;
  clock: Clock;
  logger: Logger;
  sleep?: (ms: number) => Promise<void>;
  newToken?: () => string;
  /** How long a concurrent request with the same key waits for the first one's answer. */
  waitMs?: number;
  pollMs?: number;
  /** How long an `in_progress` attempt is trusted to be running (longer than the function's timeout). */
  leaseMs?: number;
  /** Told about every Cronofy failure (the handler turns them into metrics). */
  onCronofyError?: (error: CronofyApiError, tenantId?: string) => void;
  /** Tests: runs after Cronofy's answer is saved and before the record is written (crash injection). */
  afterCreatedSaved?: () => Promise<void> | void;
}

export const DEFAULT_WAIT_MS = 8_000;
export const DEFAULT_POLL_MS = 200;
export const DEFAULT_LEASE_MS = 30_000;

// ---------------------------------------------------------------------------------------------------------
// The request body

const ALLOWED_FIELDS = [
  'recipient',
  'template_sub',
  'host_sub',
  'host_group_sub',
  'summary',
  'duration_minutes',
  'tenant_id',
  ...METADATA_KEYS,
] as const;

function objectIssue(code: string, allowed: readonly string[], what: string): string {
  // Never echo the caller's field names back: say what is allowed instead.
  if (code === 'unrecognized_keys') return `unknown field in ${what}; allowed fields: ${allowed.join(', ')}`;
  return `${what} must be a JSON object`;
}

const sub = (name: string, prefix: string) =>
  z
    .string({ error: `${name} must be a string` })
    .check(
      z.regex(new RegExp(`^${prefix}[A-Za-z0-9_-]{1,200}$`), { error: `${name} must be a ${prefix}… id` }),
    );

const metadataFields = Object.fromEntries(
  METADATA_KEYS.map((key) => [key, z.optional(textField(key, MAX_METADATA_LENGTH))]),
) as Record<(typeof METADATA_KEYS)[number], z.ZodMiniOptional<z.ZodMiniString>>;

export const createBodySchema = z.strictObject(
  {
    recipient: z.strictObject(
      {
        email: z.string({ error: 'recipient.email must be a string' }).check(
          z.maxLength(254, { error: 'recipient.email must be at most 254 characters' }),
          // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
          z.regex(/^[^\s@\u0000-\u001f\u007f]+@[^\s@\u0000-\u001f\u007f]+\.[^\s@\u0000-\u001f\u007f]+$/, {
            error: 'recipient.email must be an email address',
          }),
        ),
        display_name: textField('recipient.display_name', 256),
      },
      {
        error: (issue) =>
          issue.input === undefined
            ? 'recipient is required: {"email", "display_name"}'
            : objectIssue(issue.code, ['email', 'display_name'], 'recipient'),
      },
    ),
    template_sub: z.optional(sub('template_sub', 'sgr_')),
    host_sub: z.optional(sub('host_sub', 'acc_')),
    host_group_sub: z.optional(sub('host_group_sub', 'sel_')),
    summary: z.optional(textField('summary', 1024)),
    duration_minutes: z.optional(
      z.number({ error: 'duration_minutes must be a number of minutes' }).check(
        z.refine((n) => Number.isInteger(n) && n >= 1 && n <= 1440, {
          error: 'duration_minutes must be a whole number from 1 to 1440',
        }),
      ),
    ),
    // The integrator's customer whose Organizational Unit the request is created in (its own access token).
    tenant_id: z.optional(
      z
        .string({ error: 'tenant_id must be a string' })
        .check(z.refine(isTenantId, { error: `tenant_id must be ${TENANT_ID_RULE}` })),
    ),
    ...metadataFields,
  },
  { error: (issue) => objectIssue(issue.code, ALLOWED_FIELDS, 'the body') },
);
export type CreateBody = z.infer<typeof createBodySchema>;

export interface CreateInput {
  request: NewSchedulingRequest;
  metadata: Record<string, string>;
  /** The tenant whose credential creates it; absent: the deployment's own credential (single tenant). */
  tenantId?: string;
  /** SHA-256 of the body's meaning (fields sorted), to tell a retry from another request under one key. */
  fingerprint: string;
}

function decodeJson(body: Uint8Array): unknown {
  if (body.byteLength > MAX_BODY_BYTES)
    throw new InvalidRequestError(`body must be at most ${MAX_BODY_BYTES} bytes`);
  let textBody: string;
  try {
    textBody = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new InvalidRequestError('body must be UTF-8 JSON');
  }
  if (textBody.trim() === '') throw new InvalidRequestError('body must be a JSON object');
  try {
    return JSON.parse(textBody);
  } catch {
    throw new InvalidRequestError('body is not valid JSON');
  }
}

/** Parse and check a create body. Throws InvalidRequestError with a short reason. */
export function parseCreateBody(body: Uint8Array): CreateInput {
  const parsed = createBodySchema.safeParse(decodeJson(body));
  if (!parsed.success) throw new InvalidRequestError(parsed.error.issues[0]?.message ?? 'invalid body');
  const data = parsed.data;
  const sources = (['template_sub', 'host_sub', 'host_group_sub'] as const).filter(
    (k) => data[k] !== undefined,
  );
  if (sources.length !== 1)
    throw new InvalidRequestError('give exactly one of template_sub, host_sub or host_group_sub');
  const recipient = { email: data.recipient.email, displayName: data.recipient.display_name };
  let request: NewSchedulingRequest;
  if (data.template_sub !== undefined) {
    if (data.summary !== undefined || data.duration_minutes !== undefined)
      throw new InvalidRequestError('summary and duration_minutes come from the template; leave them out');
    request = { recipient, source: { kind: 'template', sub: data.template_sub } };
  } else {
    if (data.summary === undefined || data.duration_minutes === undefined)
      throw new InvalidRequestError(
        'with host_sub or host_group_sub, summary and duration_minutes are required',
      );
    request = {
      recipient,
      source: {
        kind: data.host_sub !== undefined ? 'host' : 'host_group',
        sub: (data.host_sub ?? data.host_group_sub) as string,
        summary: data.summary,
        durationMinutes: data.duration_minutes,
      },
    };
  }
  const metadata: Record<string, string> = {};
  for (const key of METADATA_KEYS) {
    const value = data[key];
    if (value !== undefined) metadata[key] = value;
  }
  const canonical = JSON.stringify(Object.entries(data).sort(([a], [b]) => a.localeCompare(b)));
  return {
    request,
    metadata,
    ...(data.tenant_id !== undefined ? { tenantId: data.tenant_id } : {}),
    fingerprint: sha256Hex(canonical),
  };
}

/** Cronofy's `primary_select_url` with the metadata as query parameters (Cronofy's documented way to set them). */
export function linkWithMetadata(selectUrl: string, metadata: Record<string, string>): string {
  const url = new URL(selectUrl);
  for (const [key, value] of Object.entries(metadata)) url.searchParams.set(key, value);
  return url.toString();
}

function createdOutcome(created: CreatedRequest, replayed = false): SchedulingRequestCreated {
  return { request: created, url: linkWithMetadata(created.select_url, created.metadata), replayed };
}

// ---------------------------------------------------------------------------------------------------------
// Cronofy's errors → typed errors of this API

/** What the caller is told about a Cronofy failure: never internals, always what to do. */
function cronofyErrorToDomain(error: CronofyApiError, tenantId: string | undefined): DomainError {
  if (error instanceof CronofyValidationError)
    return new UpstreamRejectedError('Cronofy rejected the request', fieldErrors(error.errors));
  if (error instanceof CredentialRejectedError)
    return new UpstreamCredentialError(
      tenantId === undefined
        ? "Cronofy rejected this service's API credential; an operator must update api_credential in the secret"
        : "Cronofy rejected the tenant's access token even after a refresh; the tenant may need to connect again",
    );
  if (error instanceof CronofyUnavailableError)
    return new UpstreamUnavailableError(
      'Cronofy is unavailable or rate limited; retry later',
      error.retryAfterSeconds,
    );
  if (error instanceof CronofyNotFoundError)
    return new NotFoundError('Cronofy has no such scheduling request');
  return new UpstreamError('Cronofy answered in a way this service cannot use');
}

/** Cronofy's parameter names → this API's fields, so the caller can tell which of its fields is at fault. */
const FIELD_NAMES: Record<string, string> = {
  'template.sub': 'template_sub',
  template: 'template_sub',
  'host.sub': 'host_sub',
  host: 'host_sub',
  'host_group.sub': 'host_group_sub',
  host_group: 'host_group_sub',
  'event.summary': 'summary',
  summary: 'summary',
  'duration.minutes': 'duration_minutes',
  duration: 'duration_minutes',
  recipients: 'recipient',
};

export function fieldErrors(errors: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [param, messages] of Object.entries(errors)) {
    const field = FIELD_NAMES[param] ?? (param.startsWith('recipients') ? 'recipient' : param);
    out[field] = [...(out[field] ?? []), ...messages];
  }
  return out;
}

const storeUnavailable = () =>
  new UnavailableError('temporarily unable to record scheduling requests; retry later');

// ---------------------------------------------------------------------------------------------------------
// Create

export interface CreateCall {
  body: Uint8Array;
  idempotencyKey?: string;
  /** Who signed the request (IAM ARN): idempotency keys are per caller. */
  caller?: string;
}

async function callCronofy(input: CreateInput, deps: SchedulingRequestDeps): Promise<CreatedRequest> {
  let answer: SchedulingRequest;
  try {
    answer = await deps.api.createSchedulingRequest(input.request, tenantOption(input.tenantId));
  } catch (error) {
    throw cronofyFailure(error, input.tenantId, deps);
  }
  if (!answer.primary_select_url) throw new UpstreamError('Cronofy answered without a link to send');
  return {
    scheduling_request_id: answer.scheduling_request_id,
    select_url: answer.primary_select_url,
    ...(answer.dashboard_url ? { dashboard_url: answer.dashboard_url } : {}),
    metadata: input.metadata,
    ...(input.tenantId !== undefined ? { tenant_id: input.tenantId } : {}),
    created_at: deps.clock().toISOString(),
  };
}

/** The API client's options for a tenant: none without one, so the single-tenant call is exactly as before. */
const tenantOption = (tenantId: string | undefined) => (tenantId === undefined ? {} : { tenant: tenantId });

/**
 * A failed Cronofy call as the error to answer; secrets out of reach (no credential) is unavailable too. A tenant
 * the credential provider refuses (unknown, not connected, disconnected) is the caller's to know: answered as is.
 */
function cronofyFailure(
  error: unknown,
  tenantId: string | undefined,
  deps: Pick<SchedulingRequestDeps, 'logger' | 'onCronofyError'>,
): unknown {
  if (error instanceof UnknownTenantError || error instanceof TenantUnavailableError) {
    deps.logger.warn('cronofy call not made for the tenant', {
      tenantId,
      reason: error instanceof UnknownTenantError ? 'unknown_tenant' : error.code,
    });
    return error;
  }
  if (error instanceof CronofyApiError) {
    deps.onCronofyError?.(error, tenantId);
    deps.logger.warn('cronofy call failed', {
      operation: error.operation,
      error: error.name,
      status: error.status,
      // Why it was unavailable: a 503 that never reached Cronofy (local_rate_limit) reads like an outage otherwise.
      ...(error instanceof CronofyUnavailableError ? { reason: error.reason } : {}),
      ...(tenantId !== undefined ? { tenantId } : {}),
    });
    return cronofyErrorToDomain(error, tenantId);
  }
  deps.logger.error('cronofy call not made', { error: (error as Error).name });
  return new UnavailableError('temporarily unable to reach Cronofy; retry later');
}

async function record(created: CreatedRequest, deps: SchedulingRequestDeps): Promise<boolean> {
  try {
    await deps.store.recordCreated(created, deps.clock().toISOString());
    return true;
  } catch (error) {
    // Cronofy created it: answering an error would make the caller create it again. Reconciliation cannot find
    // it (it is not in the table), so say so loudly.
    deps.logger.error('scheduling request created in Cronofy but not recorded', {
      schedulingRequestId: created.scheduling_request_id,
      error: (error as Error).name,
    });
    return false;
  }
}

export function validIdempotencyKey(key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key))
    throw new InvalidRequestError(
      `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters`,
    );
  return key;
}

/**
 * Idempotency keys are per principal. An assumed role's ARN ends in a session name that differs between the
 * instances of one backend (an ECS task id, an EC2 instance id), so a retry from another instance would
 * otherwise create the request again: the role is the caller.
 */
function principal(caller: string | undefined): string {
  return caller?.replace(/^(arn:[^:]+:sts::\d+:assumed-role\/[^/]+)\/.*$/, '$1') ?? '';
}

/**
 * Whose key it is: the caller's, and with a tenant the caller's for that tenant, so one backend serving many
 * customers may use the same key (its own job id, say) for two of them. Neither part holds a newline (an ARN; a
 * key of visible ASCII), so the scopes of two tenants, or of a tenant and none, never meet. Without a tenant the
 * scope is what it always was: keys given before tenants existed still replay.
 */
export function idempotencyScope(caller: string | undefined, key: string, tenantId?: string): string {
  const scope = `${principal(caller)}\n${key}`;
  return tenantId === undefined ? scope : `${scope}\n${tenantId}`;
}

export async function createSchedulingRequest(
  call: CreateCall,
  deps: SchedulingRequestDeps,
): Promise<SchedulingRequestCreated> {
  const input = parseCreateBody(call.body);
  const key = validIdempotencyKey(call.idempotencyKey);
  if (key === undefined) {
    const created = await callCronofy(input, deps);
    await record(created, deps);
    deps.logger.info('scheduling request created', { schedulingRequestId: created.scheduling_request_id });
    return createdOutcome(created);
  }
  try {
    return await createOnce(idempotencyScope(call.caller, key, input.tenantId), input, deps);
  } catch (error) {
    if (error instanceof DomainError) throw error;
    deps.logger.error('idempotency item unreadable', { error: (error as Error).name });
    throw storeUnavailable();
  }
}

async function createOnce(
  scope: string,
  input: CreateInput,
  deps: SchedulingRequestDeps,
): Promise<SchedulingRequestCreated> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  const newToken = deps.newToken ?? randomUUID;
  const leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
  const now = () => deps.clock().getTime();
  const deadline = now() + (deps.waitMs ?? DEFAULT_WAIT_MS);

  for (;;) {
    const token = newToken();
    let begun: Awaited<ReturnType<IdempotencyStore['begin']>>;
    try {
      begun = await deps.idempotency.begin(scope, {
        fingerprint: input.fingerprint,
        token,
        leaseUntil: now() + leaseMs,
        createdAt: deps.clock().toISOString(),
        expiresAt: Math.floor(now() / 1000) + IDEMPOTENCY_TTL_SECONDS,
        ...(input.tenantId !== undefined ? { tenantId: input.tenantId } : {}),
      });
    } catch (error) {
      deps.logger.error('idempotency item not written', { error: (error as Error).name });
      throw storeUnavailable();
    }
    if (begun.started) return firstAttempt(scope, token, input, deps);

    let state: IdempotencyState | undefined = begun.existing;
    while (state) {
      if (state.fingerprint !== input.fingerprint)
        throw new IdempotencyKeyReusedError(
          'this Idempotency-Key was used for a different request in the last 24 hours',
        );
      if (state.created && state.status === 'completed') return createdOutcome(state.created, true);
      if (state.created) {
        // The first attempt got Cronofy's answer and stopped before finishing: finish it.
        await record(state.created, deps);
        await deps.idempotency.complete(scope).catch(() => undefined);
        deps.logger.info('scheduling request recovered from its idempotency item', {
          schedulingRequestId: state.created.scheduling_request_id,
        });
        return createdOutcome(state.created, true);
      }
      if (state.leaseUntil <= now()) {
        // The first attempt stopped before Cronofy answered it, or in the window before its answer was saved.
        const next = newToken();
        if (await deps.idempotency.takeOver(scope, state.token, next, now() + leaseMs))
          return firstAttempt(scope, next, input, deps);
      } else if (now() >= deadline) {
        const seconds = Math.max(1, Math.ceil((state.leaseUntil - now()) / 1000));
        throw new InProgressError(
          'a request with this Idempotency-Key is still being processed; retry later',
          Math.min(seconds, 30),
        );
      } else {
        await sleep(deps.pollMs ?? DEFAULT_POLL_MS);
      }
      state = await deps.idempotency.get(scope);
    }
    // The first attempt failed and released the key: try again from the start.
  }
}

async function firstAttempt(
  scope: string,
  token: string,
  input: CreateInput,
  deps: SchedulingRequestDeps,
): Promise<SchedulingRequestCreated> {
  let created: CreatedRequest;
  try {
    created = await callCronofy(input, deps);
  } catch (error) {
    // Nothing was created (or, after a timeout, nothing can be known): let a retry call Cronofy again.
    await deps.idempotency.release(scope, token).catch((releaseError: unknown) => {
      deps.logger.warn('idempotency item not released', { error: (releaseError as Error).name });
    });
    throw error;
  }
  try {
    await deps.idempotency.saveCreated(scope, token, created);
  } catch (error) {
    deps.logger.error('cronofy answer not saved to the idempotency item', {
      schedulingRequestId: created.scheduling_request_id,
      error: (error as Error).name,
    });
  }
  await deps.afterCreatedSaved?.();
  await record(created, deps);
  await deps.idempotency.complete(scope).catch((error: unknown) => {
    // The item still holds the answer (`created`): a retry replays it and rewrites the record, harmlessly.
    deps.logger.warn('idempotency item not completed', { error: (error as Error).name });
  });
  deps.logger.info('scheduling request created', { schedulingRequestId: created.scheduling_request_id });
  return createdOutcome(created);
}

// ---------------------------------------------------------------------------------------------------------
// Cancel

const idSchema = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,256}$/));

export async function cancelSchedulingRequest(
  id: string | undefined,
  deps: Pick<SchedulingRequestDeps, 'api' | 'store' | 'clock' | 'logger' | 'onCronofyError'>,
): Promise<SchedulingRequestCancelled> {
  if (id === undefined || !idSchema.safeParse(id).success)
    throw new InvalidRequestError('the scheduling request id must be 1 to 256 letters, digits, - or _');
  // The request lives in the Organizational Unit of the tenant that created it: cancelled with that tenant's
  // credential. A request this service has no record of is cancelled with the deployment's own, as always.
  let tenantId: string | undefined;
  try {
    tenantId = await deps.store.tenantOf(id);
  } catch (error) {
    deps.logger.error('scheduling request record unreadable', { error: (error as Error).name });
    throw storeUnavailable();
  }
  try {
    await deps.api.cancelSchedulingRequest(id, tenantOption(tenantId));
  } catch (error) {
    throw cronofyFailure(error, tenantId, deps);
  }
  // Timed when Cronofy accepted it: anything Cronofy triggered before then is older and cannot undo it.
  let cancelledAt: string;
  try {
    cancelledAt = await deps.store.recordCancelled(id, deps.clock().toISOString());
  } catch (error) {
    // Cancelled in Cronofy; cancelling again is harmless, so the caller's retry finishes the job.
    deps.logger.error('scheduling request cancelled in Cronofy but not recorded', {
      schedulingRequestId: id,
      error: (error as Error).name,
    });
    throw storeUnavailable();
  }
  deps.logger.info('scheduling request cancelled', { schedulingRequestId: id });
  return { schedulingRequestId: id, cancelledAt };
}
