import * as crypto from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { verifySignature } from '../../shared/signature.ts';
import { recordFigures } from '../sim/figures.ts';
import { seededRandom } from '../sim/random.ts';
import { buildScenario } from '../sim/scenarios.ts';
import { median, probabilityOfSuperiority } from '../sim/stats.ts';

/**
 * Signature rejection must take the same time however much of the signature is right, or an attacker could
 * find a valid signature byte by byte. Two checks:
 *
 * 1. By design: every secret is compared with every header value, always (no early exit), counted on
 *    node:crypto's own functions.
 * 2. By measurement: rejection times of a signature with 0 of 32 bytes right and one with 31 right, many
 *    samples interleaved in random order, compared with a rank statistic (probability of superiority, 0.5
 *    when the distributions are the same) and by their medians, with generous bounds. A control run on a
 *    naive early-exit comparison shows the same harness does see a leak of that size.
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
  const value = Buffer.from(digest());
  for (let i = right; i < value.length; i++) value[i] = (value[i] as number) ^ 0xa5;
  return value;
}

/**
 * Time `a` and `b` alternately in random order, `batch` calls per sample, after a warm-up. Returns
 * nanoseconds per sample for each.
 */
function measure(a: () => unknown, b: () => unknown, samples: number, batch: number) {
  const random = seededRandom(42);
  const timesA: number[] = [];
  const timesB: number[] = [];
  const time = (fn: () => unknown) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
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
    superiority: probabilityOfSuperiority(timesA, timesB),
    medianRatio: median(timesA) / median(timesB),
    medianA: median(timesA),
    medianB: median(timesB),
  };
}

/**
 * Medians within 10 % (the control's differ by more than double), and the two samples far from separable
 * (the control's probability of superiority is 0.85–1). Sub-percent shifts from the machine (frequency
 * scaling, cache state) can move the rank statistic on tight distributions, hence the generous bound.
 */
function expectIndistinguishable(result: ReturnType<typeof measure>) {
  expect(result.medianRatio).toBeGreaterThan(0.9);
  expect(result.medianRatio).toBeLessThan(1.1);
  expect(Math.abs(result.superiority - 0.5)).toBeLessThan(0.2);
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

  // Both arms compare from the same buffer (refilled before each call), so memory placement cannot differ.
  const slot = Buffer.alloc(32);
  const none = partlyRight(0);
  const most = partlyRight(31);
  const compareWith = (compare: (expected: Buffer, candidate: Buffer) => boolean, candidate: Buffer) => {
    const expected = digest();
    return () => {
      candidate.copy(slot);
      return compare(expected, slot);
    };
  };

  it('the harness sees a naive early-exit comparison leak (control)', () => {
    const naive = (expected: Buffer, candidate: Buffer) => {
      for (let i = 0; i < expected.length; i++) if (expected[i] !== candidate[i]) return false;
      return true;
    };
    const result = measure(compareWith(naive, most), compareWith(naive, none), SAMPLES, 64);
    recordFigures('timing control: naive early exit, 31 vs 0 bytes right', { samples: SAMPLES, ...result });
    expect(result.superiority).toBeGreaterThan(0.75);
    expect(result.medianRatio).toBeGreaterThan(1.5);
  });

  it('by measurement: timingSafeEqual on 31 vs 0 bytes right is indistinguishable', () => {
    const result = measure(
      compareWith(crypto.timingSafeEqual, most),
      compareWith(crypto.timingSafeEqual, none),
      SAMPLES,
      64,
    );
    recordFigures('timing: timingSafeEqual, 31 vs 0 bytes right', { samples: SAMPLES, ...result });
    expectIndistinguishable(result);
  });

  it('by measurement: verifySignature rejects 31-bytes-right and 0-bytes-right signatures in the same time', () => {
    const most = partlyRight(31).toString('base64');
    const none = partlyRight(0).toString('base64');
    expect(verifySignature(body, most, [SECRET])).toBe(false);
    const result = measure(
      () => verifySignature(body, most, [SECRET]),
      () => verifySignature(body, none, [SECRET]),
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
