import { describe, expect, it } from 'vitest';
import { keys } from '#shared/contract/records.ts';
import { type Case, checkBadInputRun, keptAfterDraining, keyOf, sendBadInput } from './bad-input.ts';

/**
 * Bodies that are not JSON a worker can read: truncated notifications, objects and arrays nested thousands
 * deep, invalid UTF-8, an empty body. Signed correctly they are accepted and kept as unparseable; signed
 * otherwise they are refused.
 */

const run = sendBadInput((kit) => {
  const cases: Case[] = [];
  // Truncated JSON: signed as cut (kept, unparseable) or carrying the full body's signature (rejected).
  for (let i = 0; i < 30; i++) {
    const full = kit.realBody();
    const cut = full.subarray(0, kit.random.int(1, full.byteLength - 1));
    cases.push(kit.signedCase(`truncated JSON ${i}, signed`, cut));
    cases.push(
      kit.unsignedCase(
        `truncated JSON ${i}, signature of the full body`,
        cut,
        kit.cronofyHeaders(kit.sign(full)),
      ),
    );
  }

  // Deep nesting: the worker must not recurse itself to death.
  // 30,000 levels of objects is 180 KB: deep, yet within the size limit.
  for (const depth of [1000, 30_000]) {
    const nested = Buffer.from(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
    const arrays = Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    cases.push(kit.signedCase(`objects nested ${depth} deep, signed`, nested));
    cases.push(kit.signedCase(`arrays nested ${depth} deep, signed`, arrays));
    cases.push(kit.unsignedCase(`arrays nested ${depth} deep, unsigned`, arrays, []));
    cases.push(
      kit.signedCase(
        `notification with a payload nested ${depth} deep, signed`,
        Buffer.from(
          `{"notification":{"type":"scheduling_request_time_chosen"},"x":${'['.repeat(depth)}${']'.repeat(depth)}}`,
        ),
      ),
    );
  }

  // Invalid UTF-8 (kept as base64 when signed).
  const invalidUtf8 = Buffer.concat([
    Buffer.from('{"notification":{"type":"'),
    Buffer.from([0xc3, 0x28, 0xff, 0xfe]),
    Buffer.from('"}}'),
  ]);
  cases.push(kit.signedCase('invalid UTF-8, signed', invalidUtf8));
  cases.push(
    kit.unsignedCase(
      'invalid UTF-8, unsigned',
      invalidUtf8,
      kit.cronofyHeaders(kit.sign(invalidUtf8, 'CRN_not_ours')),
    ),
  );
  cases.push(kit.signedCase('empty body, signed', Buffer.alloc(0)));
  cases.push(kit.unsignedCase('empty body, unsigned', Buffer.alloc(0), []));
  return cases;
});

describe('malformed bodies against the local stack', { timeout: 180_000 }, () => {
  checkBadInputRun(
    run,
    {
      answers: 'answers 202 when signed and 401 otherwise',
      unsigned: 'never answers 202 to a malformed body not correctly signed',
    },
    'malformed bodies',
  );

  it('keeps a body nested 30,000 deep, and invalid UTF-8 as base64, as unparseable', async () => {
    const { records } = await keptAfterDraining(run(), 'malformed bodies');
    const signed = (name: string) => run().cases.find((c) => c.signed && c.name === name) as Case;
    expect(records.get(keys.notification(keyOf(signed('arrays nested 30000 deep, signed'))))).toMatchObject({
      status: 'unparseable',
    });
    expect(records.get(keys.notification(keyOf(signed('invalid UTF-8, signed'))))).toMatchObject({
      status: 'unparseable',
      body_encoding: 'base64',
    });
  });
});
