import type * as z from 'zod/mini';
import { apiHost, type DataCenter } from '../core/config.ts';
import { silentLogger } from '../core/logger.ts';
import type { CredentialProvider, Logger } from '../core/ports.ts';
import { type CallOptions, type CronofyApi, type NewSchedulingRequest, QUERY_BATCH_SIZE } from './api.ts';
import {
  CredentialRejectedError,
  CronofyNotFoundError,
  type CronofyOperation,
  CronofyRequestError,
  CronofyUnavailableError,
  CronofyValidationError,
} from './api-errors.ts';
import {
  createAnswerSchema,
  queryAnswerSchema,
  type SchedulingRequest,
  validationAnswerSchema,
} from './api-schemas.ts';
import { type RateLimiter, RateLimitWaitError, realSleep, type Sleep } from './rate-limiter.ts';

/**
 * HTTP adapter of the CronofyApi port. Every call: a slot from the rate limiter, the bearer credential from
 * the CredentialProvider, a timeout (AbortSignal), and retries with jittered exponential backoff on 429,
 * 5xx and network errors, all within a budget of attempts and total time. Answers are mapped to the typed
 * errors of api-errors.ts. Logs name the operation, attempt and status only: never the credential or a body.
 */

export interface RetryPolicy {
  /** Attempts per call, the first included. */
  maxAttempts: number;
  /** Time from the start of a call after which no further attempt starts (waits for the limiter included). */
  maxTotalMs: number;
  /** Backoff before retry n is between half and all of min(maxDelayMs, baseDelayMs · 2^(n-1)). */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 4,
  maxTotalMs: 10_000,
  baseDelayMs: 250,
  maxDelayMs: 4_000,
};
export const DEFAULT_TIMEOUT_MS = 5_000;

export interface CronofyApiDeps {
  /** `https://api.cronofy.com` etc. (see cronofyApiBaseUrl), or the local fake's URL. */
  baseUrl: string;
  credentials: CredentialProvider;
  /** One per process, shared by every client of it: the limits are per application. */
  limiter: RateLimiter;
  fetch?: typeof globalThis.fetch;
  /** Milliseconds; used for the budget (the limiter has its own clock). */
  now?: () => number;
  sleep?: Sleep;
  random?: () => number;
  logger?: Logger;
  /** Per attempt, headers and body included. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  queryBatchSize?: number;
}

/** Cronofy's API for a data center, or an override (local mode's fake). */
export function cronofyApiBaseUrl(dataCenter: DataCenter, override?: string): string {
  if (override === undefined || override === '') return `https://${apiHost(dataCenter)}`;
  const url = new URL(override);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RangeError('the Cronofy API URL must be http:// or https://');
  }
  return url.origin;
}

/** The body of `POST /v1/scheduling_requests` (https://docs.cronofy.com/developers/api/scheduling-requests/create/). */
export function createRequestBody(request: NewSchedulingRequest): Record<string, unknown> {
  const recipients = [
    { email: request.recipient.email, display_name: request.recipient.displayName, slot_selector: true },
  ];
  const { source } = request;
  if (source.kind === 'template') return { template: { sub: source.sub }, recipients };
  // Where Cronofy wants the duration is UNCONFIRMED: `duration.minutes` mirrors the object it returns.
  return {
    [source.kind]: { sub: source.sub },
    recipients,
    event: { summary: source.summary },
    duration: { minutes: source.durationMinutes },
  };
}

interface Answer {
  status: number;
  text: string;
  retryAfter: string | null;
}

type Failure = { kind: 'timeout' | 'network' };

/** `Retry-After` as seconds or an HTTP date (Cronofy does not document sending it). */
export function parseRetryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const text = value.trim();
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - nowMs;
  return Number.isFinite(ms) && ms >= 0 && ms <= 3_600_000 ? ms : undefined;
}

/** `{"errors": {param: [{key, description}]}}` → `{param: [message]}`; never empty. */
export function validationErrors(text: string): Record<string, string[]> {
  let parsed: z.infer<typeof validationAnswerSchema> | undefined;
  try {
    const result = validationAnswerSchema.safeParse(JSON.parse(text));
    if (result.success) parsed = result.data;
  } catch {
    // not JSON: fall through to the generic entry
  }
  const errors: Record<string, string[]> = {};
  for (const [param, entries] of Object.entries(parsed?.errors ?? {})) {
    const messages = entries
      .map((entry) => (typeof entry === 'string' ? entry : (entry.description ?? entry.key)))
      .filter((message): message is string => typeof message === 'string' && message !== '');
    errors[param] = messages.length > 0 ? messages : ['is invalid'];
  }
  return Object.keys(errors).length > 0 ? errors : { request: ['Cronofy rejected the request'] };
}

function isWrapped(item: object): item is { scheduling_request: SchedulingRequest } {
  const inner = (item as { scheduling_request?: unknown }).scheduling_request;
  return typeof inner === 'object' && inner !== null;
}

export function makeCronofyApi(deps: CronofyApiDeps): CronofyApi {
  const fetchFn = deps.fetch ?? globalThis.fetch;
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  const random = deps.random ?? Math.random;
  const logger = deps.logger ?? silentLogger;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...deps.retry };
  const batchSize = deps.queryBatchSize ?? QUERY_BATCH_SIZE;
  const baseUrl = deps.baseUrl.replace(/\/+$/, '');

  const backoffMs = (attempt: number) => {
    const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  };

  async function attemptOnce(
    path: string,
    body: unknown,
    credential: string,
    budgetMs: number,
    caller?: AbortSignal,
  ) {
    const timeout = AbortSignal.timeout(Math.max(1, Math.min(timeoutMs, budgetMs)));
    const signal = caller ? AbortSignal.any([caller, timeout]) : timeout;
    try {
      const response = await fetchFn(`${baseUrl}${path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${credential}`,
          'content-type': 'application/json; charset=utf-8',
          accept: 'application/json',
        },
        body: JSON.stringify(body),
        signal,
      });
      const text = await response.text();
      return { status: response.status, text, retryAfter: response.headers.get('retry-after') } as Answer;
    } catch {
      if (caller?.aborted) throw caller.reason;
      return { kind: timeout.aborted ? 'timeout' : 'network' } as Failure;
    }
  }

  /** One call with its retries; resolves with a 2xx answer or rejects with a typed error. */
  async function call(
    operation: CronofyOperation,
    path: string,
    body: unknown,
    options: CallOptions & { retryTimeouts: boolean },
  ): Promise<Answer> {
    const deadline = now() + policy.maxTotalMs;
    let credentialRefreshed = false;
    for (let attempt = 1; ; attempt++) {
      options.signal?.throwIfAborted();
      try {
        await deps.limiter.acquire(deadline);
      } catch (error) {
        if (!(error instanceof RateLimitWaitError)) throw error;
        throw new CronofyUnavailableError(
          operation,
          undefined,
          Math.max(1, Math.ceil(error.waitMs / 1000)),
          'local_rate_limit',
          attempt - 1,
        );
      }
      const credential = await deps.credentials.get(options.tenant);
      const outcome = await attemptOnce(path, body, credential, deadline - now(), options.signal);

      let reason: CronofyUnavailableError['reason'];
      let status: number | undefined;
      let hintMs: number | undefined;
      if ('kind' in outcome) {
        reason = outcome.kind;
        if (reason === 'timeout' && !options.retryTimeouts) {
          // The request may have been carried out: repeating a create could make a second one.
          throw new CronofyUnavailableError(operation, undefined, 1, 'timeout', attempt);
        }
      } else {
        status = outcome.status;
        if (status >= 200 && status < 300) return outcome;
        if (status === 401 && deps.credentials.invalidate && !credentialRefreshed) {
          // A provider that can refresh (Organization Connect) gets one chance; a 401 costs no rate limit.
          credentialRefreshed = true;
          deps.credentials.invalidate(options.tenant);
          attempt--;
          continue;
        }
        if (status === 401 || status === 403) throw new CredentialRejectedError(operation, status);
        if (status === 422) throw new CronofyValidationError(operation, validationErrors(outcome.text));
        if (status === 404) throw new CronofyNotFoundError(operation, 404, 'Cronofy answered 404 Not Found');
        if (status !== 429 && status < 500) {
          throw new CronofyRequestError(operation, status, `Cronofy answered ${status}`);
        }
        reason = status === 429 ? 'rate_limited' : 'server_error';
        hintMs = parseRetryAfterMs(outcome.retryAfter, now());
      }

      const delayMs = Math.max(backoffMs(attempt), hintMs ?? 0);
      if (attempt >= policy.maxAttempts || now() + delayMs >= deadline) {
        const retryAfterSeconds = Math.max(1, Math.ceil((hintMs ?? delayMs) / 1000));
        throw new CronofyUnavailableError(operation, status, retryAfterSeconds, reason, attempt);
      }
      logger.warn('cronofy call retried', { operation, attempt, status, reason, delayMs });
      await sleep(delayMs);
    }
  }

  function parse<S extends z.ZodMiniType>(
    operation: CronofyOperation,
    answer: Answer,
    schema: S,
  ): z.infer<S> {
    let json: unknown;
    try {
      json = JSON.parse(answer.text);
    } catch {
      throw new CronofyRequestError(
        operation,
        answer.status,
        'Cronofy answered with a body that is not JSON',
      );
    }
    const result = schema.safeParse(json);
    if (!result.success) {
      // Paths only: values are personal data.
      const paths = result.error.issues.map((issue) => issue.path.join('.') || '(root)').join(', ');
      throw new CronofyRequestError(operation, answer.status, `unexpected answer from Cronofy at ${paths}`);
    }
    return result.data;
  }

  return {
    async createSchedulingRequest(request, options = {}) {
      const operation = 'create_scheduling_request';
      const answer = await call(operation, '/v1/scheduling_requests', createRequestBody(request), {
        ...options,
        retryTimeouts: false,
      });
      return parse(operation, answer, createAnswerSchema).scheduling_request;
    },

    async querySchedulingRequests(ids, options = {}) {
      const operation = 'query_scheduling_requests';
      const unique = [...new Set(ids)];
      const found: SchedulingRequest[] = [];
      for (let i = 0; i < unique.length; i += batchSize) {
        const batch = unique.slice(i, i + batchSize);
        const answer = await call(
          operation,
          '/v1/scheduling_requests/query',
          { scheduling_request_ids: batch },
          { ...options, retryTimeouts: true },
        );
        for (const item of parse(operation, answer, queryAnswerSchema).scheduling_requests) {
          found.push(isWrapped(item) ? item.scheduling_request : item);
        }
      }
      return found;
    },

    async cancelSchedulingRequest(id, options = {}) {
      // Cancelling twice leaves it cancelled, so a timed-out attempt is safe to repeat.
      await call(
        'cancel_scheduling_request',
        '/v1/scheduling_requests/cancel',
        { scheduling_request_id: id },
        { ...options, retryTimeouts: true },
      );
    },
  };
}
