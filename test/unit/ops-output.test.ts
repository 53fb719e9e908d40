import { describe, expect, it } from 'vitest';
import { formatDeadLetters } from '../../infra/ops/cli.ts';

/** What `npm run ops` prints, beyond the reconcile report (ops-reconcile-report.test.ts). */

describe('formatDeadLetters (ops dlq peek)', () => {
  it('says an empty dead-letter queue is empty, in a sentence that ends', () => {
    for (const local of [true, false])
      expect(formatDeadLetters([], local)).toBe('The dead-letter queue is empty: nothing to redrive.');
  });

  it('introduces the messages it lists', () => {
    const text = formatDeadLetters(
      [{ messageId: 'm-1', type: 'smoke_test', receiveCount: 9, bytes: 10 }],
      true,
    );
    expect(text.split('\n')[0]).toBe(
      '1 message(s) in the dead-letter queue (peeked, none consumed; each is visible again):',
    );
    expect(text).toContain('m-1');
  });
});
