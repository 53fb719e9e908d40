/**
 * Keeps calls to Cronofy under its per-application limits: 50 requests in any second and 500 in any minute
 * (https://docs.cronofy.com/developers/faqs/rate-limits/). Sliding windows over the times calls were let
 * through, so no window of either length, wherever it starts, holds more than its limit: that satisfies
 * Cronofy whether it counts in fixed or sliding windows.
 *
 * One limiter guards one process. Across a deployment the limits are shared out: each Cronofy-calling
 * function has reserved concurrency R and every instance gets `instanceRateShare(R)` (see below).
 */

export interface RateLimit {
  perSecond: number;
  perMinute: number;
}

/** Cronofy's documented default limits per application. */
export const CRONOFY_RATE_LIMIT: RateLimit = { perSecond: 50, perMinute: 500 };

export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RateLimiterOptions {
  limit?: RateLimit;
  /** Milliseconds since the epoch (or any monotonic origin). */
  now?: () => number;
  sleep?: Sleep;
}

/** Waiting for a slot would pass the caller's deadline. `waitMs` is how long a slot is away. */
export class RateLimitWaitError extends Error {
  override readonly name = 'RateLimitWaitError';
  constructor(readonly waitMs: number) {
    super(`no Cronofy request slot for ${waitMs} ms`);
  }
}

const SECOND = 1000;
const MINUTE = 60_000;

export class RateLimiter {
  /** Times slots were granted within the last minute, oldest first (at most `perMinute` entries). */
  private readonly granted: number[] = [];
  private readonly limit: RateLimit;
  private readonly now: () => number;
  private readonly sleep: Sleep;

  constructor(options: RateLimiterOptions = {}) {
    this.limit = options.limit ?? CRONOFY_RATE_LIMIT;
    if (!(this.limit.perSecond >= 1 && this.limit.perMinute >= 1)) {
      throw new RangeError('rate limits must allow at least one request per second and per minute');
    }
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? realSleep;
  }

  /** How long until a slot is free (0: now). */
  waitMs(at = this.now()): number {
    while (this.granted.length > 0 && (this.granted[0] ?? 0) <= at - MINUTE) this.granted.shift();
    const { perSecond, perMinute } = this.limit;
    const n = this.granted.length;
    let wait = 0;
    // The slot frees when the grant `limit` places back leaves its window.
    if (n >= perMinute) wait = Math.max(wait, (this.granted[n - perMinute] ?? 0) + MINUTE - at);
    if (n >= perSecond) wait = Math.max(wait, (this.granted[n - perSecond] ?? 0) + SECOND - at);
    return wait;
  }

  /**
   * Resolves once a slot is granted (and records it). Rejects with RateLimitWaitError, without waiting,
   * when the slot would come after `deadline` (same clock as `now`).
   */
  async acquire(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    for (;;) {
      const at = this.now();
      const wait = this.waitMs(at);
      if (wait <= 0) {
        this.granted.push(at);
        return;
      }
      if (at + wait > deadline) throw new RateLimitWaitError(wait);
      // Several waiters may wake together: each re-checks, and only those that fit are granted.
      await this.sleep(wait);
    }
  }
}

/**
 * One instance's share of the deployment-wide limit when a function may run `reservedConcurrency` instances
 * at once (its reserved concurrency), rounded down so the shares never add up to more than the limit.
 * `functions` > 1 when several functions call Cronofy, each with that reserved concurrency.
 */
export function instanceRateShare(
  reservedConcurrency: number,
  limit: RateLimit = CRONOFY_RATE_LIMIT,
  functions = 1,
): RateLimit {
  const instances = reservedConcurrency * functions;
  if (!Number.isInteger(instances) || instances < 1) {
    throw new RangeError('reserved concurrency must be a whole number of at least 1');
  }
  const perSecond = Math.floor(limit.perSecond / instances);
  const perMinute = Math.floor(limit.perMinute / instances);
  if (perSecond < 1 || perMinute < 1) {
    throw new RangeError(
      `reserved concurrency ${instances} leaves an instance less than one request per second or per minute of ${limit.perSecond}/s, ${limit.perMinute}/min`,
    );
  }
  return { perSecond, perMinute };
}
