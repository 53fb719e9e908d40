import { describe } from 'vitest';
import { checkBadInputRun, HEAVY, randomBytesOf, sendBadInput } from './bad-input.ts';

/**
 * Random bytes as notification bodies (0–3,000 bytes), unsigned, signed with a secret that is not ours,
 * with a garbage signature header, or signed correctly: only the last are accepted and kept.
 */

const RANDOM_CASES = HEAVY ? 2000 : 250;

const run = sendBadInput((kit) =>
  Array.from({ length: RANDOM_CASES }, (_, i) => {
    const { random } = kit;
    const body = randomBytesOf(random, random.int(0, 3000));
    const how = random.weighted({ unsigned: 3, otherSecret: 3, garbageSignature: 2, signed: 2 });
    if (how === 'signed') return kit.signedCase(`random bytes ${i}, signed`, body);
    if (how === 'unsigned') return kit.unsignedCase(`random bytes ${i}, no signature`, body, []);
    if (how === 'otherSecret')
      return kit.unsignedCase(
        `random bytes ${i}, other secret`,
        body,
        kit.cronofyHeaders(kit.sign(body, 'CRN_not_ours')),
      );
    // Bytes that HTTP does not allow in a header value are refused before any function runs (400).
    const value = randomBytesOf(random, random.int(0, 80))
      .toString('latin1')
      .replace(/[\r\n]/g, '');
    return {
      ...kit.unsignedCase(`random bytes ${i}, garbage signature`, body, [['Cronofy-HMAC-SHA256', value]]),
      allowed: [400, 401],
    };
  }),
);

describe('random bytes against the local stack', { timeout: 180_000 }, () => {
  checkBadInputRun(
    run,
    {
      answers: 'answers 202 when signed, 401 otherwise, 400 for header bytes HTTP does not allow',
      unsigned: 'never answers 202 to random bytes not correctly signed',
    },
    'random bytes',
  );
});
