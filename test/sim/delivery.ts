import { signBody } from '#shared/notifications/signature.ts';
import type { Random } from './random.ts';
import type { Chain, SimNotification } from './scenarios.ts';
import { percentile } from './stats.ts';
import { httpTransport, type Transport } from './transport.ts';

/**
 * Delivers notifications the way Cronofy does:
 *
 * - signed with every active client secret, one `Cronofy-HMAC-SHA256` value each, comma-separated;
 * - `Cronofy-Notification-ID` only on Event Trigger callbacks (the notification carries it or not);
 * - a non-2xx answer, a connection error or no answer within the timeout (7 s, as Event Triggers define
 *   success) is a failure, retried with exponential backoff until it succeeds or fails 10 times in a row;
 * - at-least-once: a share of notifications is delivered twice, the identical bytes and id, either racing
 *   the first delivery or a little after it was accepted;
 * - steps of a chain go one after another (Cronofy sends them minutes or days apart), chains side by side;
 *   `burst` notifications (top of the hour) skip the rate limit.
 */

export interface BackoffOptions {
  initialMs: number;
  factor: number;
  maxMs: number;
  /** ± this share of each delay, so retries of a burst do not come back in lockstep. */
  jitter: number;
}

/** Cronofy does not publish its schedule ("retried periodically"); this is a plausible one. */
export const CRONOFY_BACKOFF: BackoffOptions = { initialMs: 1000, factor: 2, maxMs: 5 * 60_000, jitter: 0.2 };
export const CRONOFY_TIMEOUT_MS = 7000;
export const CRONOFY_MAX_CONSECUTIVE_FAILURES = 10;
export const CRONOFY_USER_AGENT = 'Cronofy (https://www.cronofy.com/support/)';

export interface DeliveryOptions {
  /** The notifications route, e.g. http://127.0.0.1:3000/cronofy/notifications. */
  url: string;
  /** Every active client secret (more than one during a rotation). */
  secrets: readonly string[];
  /** Requests in flight at most. */
  concurrency?: number;
  /** New notifications per second (first attempts only; retries and duplicates follow their own clock). 0: no limit. */
  rate?: number;
  /** Share of notifications delivered twice (0–1). */
  duplicateRatio?: number;
  timeoutMs?: number;
  maxConsecutiveFailures?: number;
  backoff?: Partial<BackoffOptions>;
  /** A later duplicate follows its original within this many milliseconds. */
  duplicateDelayMs?: number;
  random: Random;
  transport?: Transport;
  /** Called after every request with its outcome: the status code, `timeout` or `error`. */
  onAnswer?: (outcome: string) => void;
  /** Called after every request and every finished notification. */
  onProgress?: (progress: Progress) => void;
  /** Stop starting requests when aborted (a bound on a run's time); unfinished notifications are `aborted`. */
  signal?: AbortSignal;
}

export interface Progress {
  done: number;
  total: number;
  accepted: number;
  gaveUp: number;
  retried: number;
  /** Deliveries waiting out a backoff before their next attempt. */
  retrying: number;
  requests: number;
  elapsedMs: number;
}

export type Outcome = 'accepted' | 'gave_up' | 'aborted';

export interface DeliveryRecord {
  notification: SimNotification;
  outcome: Outcome;
  /** HTTP requests made for this notification (first attempts, retries and duplicates). */
  requests: number;
  /** Extra deliveries started (at-least-once duplicates). */
  duplicates: number;
  /** The status (or `timeout` / `error`) of the last answer. */
  last?: string;
}

export interface DeliverySummary {
  /** Distinct notifications. */
  notifications: number;
  /** Notifications with at least one 2xx answer. */
  accepted: number;
  /** Notifications never accepted: 10 consecutive failures on every delivery. */
  gaveUp: number;
  aborted: number;
  requests: number;
  /** Requests that repeated a failed one. */
  retried: number;
  notificationsRetried: number;
  /** Extra deliveries of the same notification (same bytes, same id). */
  duplicatesSent: number;
  /** Answers by status code, plus `timeout` and `error` (connection refused or reset). */
  byStatus: Record<string, number>;
  /** Per request, answered ones only. */
  latencyMs: { p50: number; p99: number; max: number };
  elapsedMs: number;
  requestsPerSecond: number;
}

export interface DeliveryResult {
  summary: DeliverySummary;
  records: DeliveryRecord[];
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private available: number) {}
  async acquire(): Promise<void> {
    if (this.available > 0) {
      this.available--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.available++;
  }
}

/** Spaces starts `1/rate` seconds apart. */
class RateLimit {
  private next = 0;
  constructor(private readonly perSecond: number) {}
  async acquire(signal?: AbortSignal): Promise<void> {
    if (this.perSecond <= 0) return;
    const now = performance.now();
    const at = Math.max(now, this.next);
    this.next = at + 1000 / this.perSecond;
    await sleep(at - now, signal);
  }
}

export function backoffDelay(failures: number, options: BackoffOptions, random: () => number): number {
  const base = Math.min(options.maxMs, options.initialMs * options.factor ** Math.max(0, failures - 1));
  return Math.round(base * (1 + options.jitter * (2 * random() - 1)));
}

/** The headers Cronofy sends with a body (as seen in deliveries: https://docs.cronofy.com/developers/api/push-notifications/). */
export function cronofyHeaders(
  notification: SimNotification,
  secrets: readonly string[],
  random: Random,
): Record<string, string> {
  // During a rotation Cronofy sends one value per active secret; the order is not documented, and values
  // may be separated by spaces: both vary.
  const values = secrets.map((secret) => signBody(notification.body, secret));
  if (values.length > 1 && random.chance(0.5)) values.reverse();
  return {
    'content-type': 'application/json; charset=utf-8',
    'user-agent': CRONOFY_USER_AGENT,
    'cronofy-hmac-sha256': values.join(random.chance(0.2) ? ', ' : ','),
    ...(notification.notificationId ? { 'Cronofy-Notification-ID': notification.notificationId } : {}),
  };
}

export async function deliver(chains: readonly Chain[], options: DeliveryOptions): Promise<DeliveryResult> {
  const concurrency = Math.max(1, options.concurrency ?? 16);
  const timeoutMs = options.timeoutMs ?? CRONOFY_TIMEOUT_MS;
  const maxFailures = options.maxConsecutiveFailures ?? CRONOFY_MAX_CONSECUTIVE_FAILURES;
  const backoff: BackoffOptions = { ...CRONOFY_BACKOFF, ...options.backoff };
  const duplicateRatio = options.duplicateRatio ?? 0;
  const duplicateDelayMs = options.duplicateDelayMs ?? 2000;
  const { random, signal } = options;
  const ownTransport = options.transport ? undefined : httpTransport(concurrency);
  const transport = options.transport ?? (ownTransport as Transport);

  const slots = new Semaphore(concurrency);
  const rate = new RateLimit(options.rate ?? 0);
  const total = chains.reduce((sum, chain) => sum + chain.steps.length, 0);
  const records: DeliveryRecord[] = [];
  const latencies: number[] = [];
  const byStatus: Record<string, number> = {};
  const background = new Set<Promise<unknown>>();
  const counters = { done: 0, accepted: 0, gaveUp: 0, retried: 0, retrying: 0, requests: 0 };
  const started = performance.now();
  const progress = () =>
    options.onProgress?.({
      ...counters,
      total,
      elapsedMs: performance.now() - started,
    });

  /** One request. True on a 2xx answer. */
  const attempt = async (
    notification: SimNotification,
    headers: Record<string, string>,
    record: DeliveryRecord,
  ) => {
    await slots.acquire();
    const t0 = performance.now();
    let outcome: string;
    try {
      counters.requests++;
      record.requests++;
      const response = await transport({ url: options.url, headers, body: notification.body, timeoutMs });
      latencies.push(performance.now() - t0);
      outcome = String(response.status);
    } catch (error) {
      outcome = (error as Error).name === 'TimeoutError' ? 'timeout' : 'error';
    } finally {
      slots.release();
    }
    byStatus[outcome] = (byStatus[outcome] ?? 0) + 1;
    record.last = outcome;
    options.onAnswer?.(outcome);
    progress();
    return /^2\d\d$/.test(outcome);
  };

  /** One delivery: retried with backoff until accepted or `maxFailures` consecutive failures. */
  const delivery = async (
    notification: SimNotification,
    headers: Record<string, string>,
    record: DeliveryRecord,
  ) => {
    for (let failures = 0; ; ) {
      if (signal?.aborted) return 'aborted' as const;
      if (await attempt(notification, headers, record)) return 'accepted' as const;
      failures++;
      if (failures >= maxFailures) return 'gave_up' as const;
      counters.retried++;
      counters.retrying++;
      progress();
      await sleep(backoffDelay(failures, backoff, random), signal);
      counters.retrying--;
    }
  };

  const track = (promise: Promise<unknown>) => {
    background.add(promise);
    void promise.finally(() => background.delete(promise));
  };

  const send = async (notification: SimNotification): Promise<void> => {
    const record: DeliveryRecord = { notification, outcome: 'aborted', requests: 0, duplicates: 0 };
    records.push(record);
    if (notification.delayMs) await sleep(notification.delayMs, signal);
    if (!notification.burst) await rate.acquire(signal);
    const headers = cronofyHeaders(notification, options.secrets, random);
    const outcomes: Outcome[] = [];
    const settle = () => {
      record.outcome = outcomes.includes('accepted')
        ? 'accepted'
        : outcomes.includes('gave_up')
          ? 'gave_up'
          : 'aborted';
    };
    const duplicate =
      duplicateRatio > 0 && random.chance(duplicateRatio)
        ? random.chance(0.5)
          ? 'racing'
          : 'later'
        : undefined;
    const redeliver = () => {
      record.duplicates++;
      return delivery(notification, headers, record).then((outcome) => {
        outcomes.push(outcome);
        settle();
      });
    };
    if (duplicate === 'racing') track(redeliver());
    outcomes.push(await delivery(notification, headers, record));
    settle();
    if (duplicate === 'later' && record.outcome === 'accepted') {
      track(sleep(random() * duplicateDelayMs, signal).then(redeliver));
    }
    counters.done++;
    if (record.outcome === 'accepted') counters.accepted++;
    else if (record.outcome === 'gave_up') counters.gaveUp++;
    progress();
  };

  // Enough lanes that chains waiting in backoff do not hold back new notifications; requests in flight are
  // bounded by the semaphore, not by the lanes.
  let next = 0;
  const lanes = Array.from({ length: Math.min(chains.length, Math.max(32, concurrency * 4)) }, async () => {
    while (next < chains.length) {
      const chain = chains[next++] as Chain;
      for (const step of chain.steps) await send(step);
    }
  });
  try {
    await Promise.all(lanes);
    while (background.size > 0) await Promise.all([...background]);
  } finally {
    ownTransport?.close();
  }

  const elapsedMs = performance.now() - started;
  const count = (outcome: Outcome) => records.filter((record) => record.outcome === outcome).length;
  const summary: DeliverySummary = {
    notifications: records.length,
    accepted: count('accepted'),
    gaveUp: count('gave_up'),
    aborted: count('aborted'),
    requests: counters.requests,
    retried: counters.retried,
    notificationsRetried: records.filter((record) => record.requests > 1 + record.duplicates).length,
    duplicatesSent: records.reduce((sum, record) => sum + record.duplicates, 0),
    byStatus,
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
      max: round(percentile(latencies, 100)),
    },
    elapsedMs: Math.round(elapsedMs),
    requestsPerSecond: round((counters.requests / Math.max(1, elapsedMs)) * 1000),
  };
  return { summary, records };
}

const round = (value: number) => Math.round(value * 10) / 10;
