import { describe, expect, it } from 'vitest';
import {
  CRONOFY_RATE_LIMIT,
  instanceRateShare,
  RateLimiter,
  RateLimitWaitError,
} from '#shared/cronofy/rate-limiter.ts';
import { maxInWindow, VirtualClock } from '../support/virtual-clock.ts';

/** Start `count` concurrent callers (the i-th after `arrival(i)` ms) and return the times they were let through. */
async function grantTimes(
  limiter: RateLimiter,
  clock: VirtualClock,
  count: number,
  arrival: (i: number) => number = () => 0,
): Promise<number[]> {
  const times: number[] = [];
  const callers = Array.from({ length: count }, async (_, i) => {
    const delay = arrival(i);
    if (delay > 0) await clock.sleep(delay);
    await limiter.acquire();
    times.push(clock.now());
  });
  await clock.run(Promise.all(callers));
  return times;
}

/** A small deterministic PRNG (mulberry32), so a failure replays. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('rate limiter', () => {
  it('lets 1,200 simultaneous calls through at no more than 50 in any second and 500 in any minute', async () => {
    const clock = new VirtualClock();
    const limiter = new RateLimiter({ now: clock.now, sleep: clock.sleep });

    const times = await grantTimes(limiter, clock, 1200);

    expect(times).toHaveLength(1200);
    expect(maxInWindow(times, 1000)).toBe(50);
    expect(maxInWindow(times, 60_000)).toBe(500);
    // …and no slower than the limits require: 50 at once, 500 within the first ten seconds, the 501st when
    // the first leaves the minute window, the 1,001st when the 501st leaves it.
    const sorted = [...times].sort((a, b) => a - b);
    expect(sorted.filter((t) => t === 0)).toHaveLength(50);
    expect(sorted[499]).toBe(9000);
    expect(sorted[500]).toBe(60_000);
    expect(sorted[1000]).toBe(120_000);
  });

  it('holds the limits for callers arriving at random times over three minutes', async () => {
    const clock = new VirtualClock();
    const limiter = new RateLimiter({ now: clock.now, sleep: clock.sleep });
    const random = seeded(13);

    const times = await grantTimes(limiter, clock, 2000, () => Math.floor(random() * 180_000));

    expect(times).toHaveLength(2000);
    expect(maxInWindow(times, 1000)).toBeLessThanOrEqual(50);
    expect(maxInWindow(times, 60_000)).toBeLessThanOrEqual(500);
  });

  it('the window check catches a limiter that lets too many through (the assertions above can fail)', async () => {
    const clock = new VirtualClock();
    const loose = new RateLimiter({
      now: clock.now,
      sleep: clock.sleep,
      limit: { perSecond: 80, perMinute: 800 },
    });

    const times = await grantTimes(loose, clock, 1200);

    expect(maxInWindow(times, 1000)).toBe(80);
    expect(maxInWindow(times, 60_000)).toBe(800);
  });

  it('rejects at once, without taking a slot, when the slot would come after the deadline', async () => {
    const clock = new VirtualClock(1_000_000);
    const limiter = new RateLimiter({
      now: clock.now,
      sleep: clock.sleep,
      limit: { perSecond: 2, perMinute: 3 },
    });
    await limiter.acquire();
    await limiter.acquire();

    const waiting = limiter.acquire(clock.now() + 999);

    await expect(waiting).rejects.toBeInstanceOf(RateLimitWaitError);
    await expect(waiting).rejects.toMatchObject({ waitMs: 1000 });
    expect(clock.slept).toEqual([]);
    // The rejected caller took nothing: the third slot is still there a second later.
    clock.time += 1000;
    expect(limiter.waitMs()).toBe(0);
    await limiter.acquire();
    // Three in the minute now: the next slot comes when the first grant, a second ago, leaves the minute window.
    expect(limiter.waitMs()).toBe(59_000);
  });

  it('shares the deployment-wide limit between instances, rounding down', () => {
    expect(instanceRateShare(1)).toEqual(CRONOFY_RATE_LIMIT);
    expect(instanceRateShare(10)).toEqual({ perSecond: 5, perMinute: 50 });
    expect(instanceRateShare(3)).toEqual({ perSecond: 16, perMinute: 166 });
    expect(instanceRateShare(5, CRONOFY_RATE_LIMIT, 2)).toEqual({ perSecond: 5, perMinute: 50 });
    for (const reserved of [1, 2, 3, 7, 13, 25, 50]) {
      const share = instanceRateShare(reserved);
      expect(share.perSecond * reserved).toBeLessThanOrEqual(50);
      expect(share.perMinute * reserved).toBeLessThanOrEqual(500);
    }
    expect(() => instanceRateShare(51)).toThrow(RangeError);
    expect(() => instanceRateShare(0)).toThrow(RangeError);
  });
});
