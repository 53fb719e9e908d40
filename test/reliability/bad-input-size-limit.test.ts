import { describe } from 'vitest';
import { NOTIFICATION_BODY_MAX_BYTES as MAX_BODY_BYTES } from '#shared/contract/limits.ts';
import { checkBadInputRun, randomBytesOf, sendBadInput } from './bad-input.ts';

/**
 * Bodies around the size limit and far beyond it, up to a declared 50 MiB: at the limit a signed body is
 * accepted and kept; one byte over, it is refused with 413, signed or not.
 */

const run = sendBadInput((kit) => {
  const big = (size: number, fill: number) => Buffer.alloc(size, fill);
  return [
    kit.signedCase(
      'exactly the size limit of random bytes, signed',
      randomBytesOf(kit.random, MAX_BODY_BYTES),
    ),
    kit.signedCase('exactly the size limit of control characters, signed', big(MAX_BODY_BYTES, 0x01)),
    {
      ...kit.signedCase('one byte over the limit, signed', big(MAX_BODY_BYTES + 1, 0x61)),
      signed: false,
      allowed: [413],
    },
    { ...kit.signedCase('1 MiB, signed', big(1024 * 1024, 0x7b)), signed: false, allowed: [413] },
    kit.unsignedCase('over 10 MiB, unsigned', big(10 * 1024 * 1024 + 1, 0x20), []),
    {
      name: 'a Content-Length of 50 MiB, nothing sent',
      headers: [
        ['Content-Length', String(50 * 1024 * 1024)],
        ['Cronofy-HMAC-SHA256', kit.sign(Buffer.alloc(0))],
      ],
      allowed: [413],
    },
  ];
});

describe('the size limit against the local stack', { timeout: 180_000 }, () => {
  checkBadInputRun(
    run,
    {
      answers: 'answers 202 to a signed body at the limit and 413 to anything over it',
      unsigned: 'never answers 202 to a body over the limit',
    },
    'size limit',
  );
});
