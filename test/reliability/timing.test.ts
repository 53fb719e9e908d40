import * as crypto from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { verifySignature } from '#shared/notifications/signature.ts';
import {
  buildScenario,
  median,
  probabilityOfSuperiority,
  recordFigures,
  seededRandom,
} from '../sim/index.ts';

/**
 * Signature rejection must take the same time however much of the signature is right, or an attacker could
 * find a valid signature byte by byte. Two checks:
 *
 * 1. By design: every secret is compared with every header value, always (no early exit), counted on
 *    node:crypto's own functions.
 * 2. By measurement: rejection times of a signature with 0 of 32 bytes right and one with 31 right, many
 *    samples interleaved in random order through one call site, compared by their medians with a generous
 *    bound (10 %). A control run on a naive early-exit comparison shows the same harness sees such a leak
 *    (its medians differ by 50 % or more). The rank statistic (probability of superiority) is recorded, not
 *    asserted: on distributions this tight, where a buffer happens to sit in memory moves it further than a
 *    10 % bound on medians would allow (an A/A run of two identical inputs reached 0.12 once).
 */

const HEAVY = process.env.RELIABILITY_HEAVY === '1';
const SAMPLES = HEAVY ? 20_000 : 3_000;

const calls = { timingSafeEqual: 0, createHmac: 0 };
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return {
    ...actual,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      calls.timingSafeEqual++;
      return actual.timingSafeEqual(a, b);
    },
    createHmac: (...args: Parameters<typeof actual.createHmac>) => {
      calls.createHmac++;
      return actual.createHmac(...args);
    },
  };
});

afterEach(() => {
  calls.timingSafeEqual = 0;
  calls.createHmac = 0;
});

const SECRET = 'CRN_timing_check_secret_0123456789';
const body = buildScenario('lifecycle', 1, { random: seededRandom(1), runId: 'tm01', now: new Date() })[0]
  ?.steps[0]?.body as Buffer;
const digest = () => crypto.createHmac('sha256', SECRET).update(body).digest();

/** The correct digest with only its first `right` bytes kept. */
function partlyRight(right: number): Buffer {
  // Its own aligned allocation (not a slice of the shared pool), like the other candidate's.
  const value = Buffer.alloc(32);
  digest().copy(value);
  for (let i = right; i < value.length; i++) value[i] = (value[i] as number) ^ 0xa5;
  return value;
}

/**
 * Time `run(a)` and `run(b)` alternately in random order, `batch` calls per sample, after a warm-up. One
 * function and one call site for both, so the only difference between the arms is the data.
 */
function measure<T>(run: (input: T) => unknown, a: T, b: T, samples: number, batch: number) {
  const random = seededRandom(42);
  const timesA: number[] = [];
  const timesB: number[] = [];
  const time = (input: T) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) run(input);
    return Number(process.hrtime.bigint() - start);
  };
  for (let i = 0; i < 300; i++) {
    time(a);
    time(b);
  }
  for (let i = 0; i < samples; i++) {
    if (random.chance(0.5)) {
      timesA.push(time(a));
      timesB.push(time(b));
    } else {
      timesB.push(time(b));
      timesA.push(time(a));
    }
  }
  return {
    medianRatio: median(timesA) / median(timesB),
    medianA: median(timesA),
    medianB: median(timesB),
    superiority: probabilityOfSuperiority(timesA, timesB),
  };
}

function expectIndistinguishable(result: ReturnType<typeof measure>) {
  expect(result.medianRatio).toBeGreaterThan(0.9);
  expect(result.medianRatio).toBeLessThan(1.1);
}

describe('timing of signature rejection', () => {
  it('by design: every secret against every value, whatever matches', () => {
    const secrets = ['CRN_one', 'CRN_two', 'CRN_three'];
    const value = (secret: string) => crypto.createHmac('sha256', secret).update(body).digest('base64');
    const wrong = Buffer.alloc(32, 7).toString('base64');
    const headers = {
      'first value, first secret': [value('CRN_one'), wrong, wrong],
      'last value, last secret': [wrong, wrong, value('CRN_three')],
      'nothing matches': [wrong, wrong, wrong],
    };
    const counts: Record<string, [number, number, boolean]> = {};
    for (const [name, values] of Object.entries(headers)) {
      calls.timingSafeEqual = 0;
      calls.createHmac = 0;
      const result = verifySignature(body, values.join(','), secrets);
      counts[name] = [calls.timingSafeEqual, calls.createHmac, result];
    }
    // 3 secrets × 3 values = 9 comparisons and 3 HMACs, each time.
    expect(counts).toEqual({
      'first value, first secret': [9, 3, true],
      'last value, last secret': [9, 3, true],
      'nothing matches': [9, 3, false],
    });
  });

  // Both arms compare from the same buffer, refilled before each call.
  const expected = digest();
  const slot = Buffer.alloc(32);
  const none = partlyRight(0);
  const most = partlyRight(31);
  const through = (compare: (a: Buffer, b: Buffer) => boolean) => (candidate: Buffer) => {
    candidate.copy(slot);
    return compare(expected, slot);
  };

  it('the harness sees a naive early-exit comparison leak (control)', () => {
    const naive = (a: Buffer, b: Buffer) => {
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
      return true;
    };
    const result = measure(through(naive), most, none, SAMPLES, 64);
    recordFigures('timing control: naive early exit, 31 vs 0 bytes right', { samples: SAMPLES, ...result });
    expect(result.medianRatio).toBeGreaterThan(1.3);
  });

  it('by measurement: timingSafeEqual on 31 vs 0 bytes right is indistinguishable', () => {
    const result = measure(through(crypto.timingSafeEqual), most, none, SAMPLES, 64);
    recordFigures('timing: timingSafeEqual, 31 vs 0 bytes right', { samples: SAMPLES, ...result });
    expectIndistinguishable(result);
  });

  it('by measurement: verifySignature rejects 31-bytes-right and 0-bytes-right signatures in the same time', () => {
    const most = partlyRight(31).toString('base64');
    const none = partlyRight(0).toString('base64');
    expect(verifySignature(body, most, [SECRET])).toBe(false);
    const result = measure(
      (header: string) => verifySignature(body, header, [SECRET]),
      most,
      none,
      SAMPLES,
      4,
    );
    recordFigures('timing: verifySignature rejection, 31 vs 0 bytes right', {
      samples: SAMPLES,
      bodyBytes: body.byteLength,
      ...result,
    });
    expectIndistinguishable(result);
  });
});
