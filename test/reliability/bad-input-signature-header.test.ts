import { describe } from 'vitest';
import { idempotencyKey } from '#shared/notifications/envelope.ts';
import { type Case, type CaseKit, checkBadInputRun, sendBadInput } from './bad-input.ts';

/**
 * Variants of the Cronofy-HMAC-SHA256 header on real notification bodies: what Cronofy or HTTP may send
 * (any case, spaces, a rotation list, a second header line, chunked framing) is accepted; anything that is
 * not a correct HMAC-SHA256 in base64 with one of our secrets is refused with 401.
 */

/** A correct signature with the first `right` bytes right and the rest wrong. */
function partlyRight(kit: CaseKit, body: Buffer, right: number): string {
  const digest = Buffer.from(kit.sign(body), 'base64');
  for (let i = right; i < digest.length; i++) digest[i] = (digest[i] as number) ^ 0xff;
  return digest.toString('base64');
}

const run = sendBadInput((kit) => {
  const { sign, secret } = kit;
  const good = (b: Buffer) => sign(b);
  const variants: [string, (b: Buffer) => [string, string][], boolean][] = [
    ['header name in capitals', (b) => [['CRONOFY-HMAC-SHA256', good(b)]], true],
    ['header name in lower case', (b) => [['cronofy-hmac-sha256', good(b)]], true],
    ['value surrounded by spaces', (b) => [['Cronofy-HMAC-SHA256', `   ${good(b)}   `]], true],
    [
      'rotation: garbage, then the right value',
      (b) => [['Cronofy-HMAC-SHA256', `nope,${sign(b, 'CRN_old')}, ${good(b)}`]],
      true,
    ],
    [
      'the right value in a second header line',
      (b) => [
        ['Cronofy-HMAC-SHA256', sign(b, 'CRN_old')],
        ['Cronofy-HMAC-SHA256', good(b)],
      ],
      true,
    ],
    [
      'a very long list, the right value last',
      (b) => [['Cronofy-HMAC-SHA256', `${Array(150).fill(sign(b, 'x')).join(',')},${good(b)}`]],
      true,
    ],
    [
      'content type text/plain',
      (b) => [
        ['Content-Type', 'text/plain'],
        ['Cronofy-HMAC-SHA256', good(b)],
      ],
      true,
    ],
    [
      'a notification id of 300 characters',
      (b) => [
        ['Cronofy-HMAC-SHA256', good(b)],
        ['Cronofy-Notification-ID', 'n'.repeat(300)],
      ],
      true,
    ],
    [
      'an empty notification id',
      (b) => [
        ['Cronofy-HMAC-SHA256', good(b)],
        ['Cronofy-Notification-ID', ''],
      ],
      true,
    ],
    ['empty value', () => [['Cronofy-HMAC-SHA256', '']], false],
    ['only commas', () => [['Cronofy-HMAC-SHA256', ',,,,']], false],
    [
      'base64url instead of base64',
      (b) => [['Cronofy-HMAC-SHA256', good(b).replace(/\+/g, '-').replace(/\//g, '_')]],
      false,
    ],
    ['without padding', (b) => [['Cronofy-HMAC-SHA256', good(b).replace(/=+$/, '')]], false],
    [
      'hex instead of base64',
      (b) => [['Cronofy-HMAC-SHA256', Buffer.from(good(b), 'base64').toString('hex')]],
      false,
    ],
    ['31 of 32 bytes right', (b) => [['Cronofy-HMAC-SHA256', partlyRight(kit, b, 31)]], false],
    ['no byte right', (b) => [['Cronofy-HMAC-SHA256', partlyRight(kit, b, 0)]], false],
    [
      'signature of the body plus a newline',
      (b) => [['Cronofy-HMAC-SHA256', sign(Buffer.concat([b, Buffer.from('\n')]))]],
      false,
    ],
    [
      'SHA-256 of the body, not an HMAC',
      (b) => [['Cronofy-HMAC-SHA256', Buffer.from(idempotencyKey(b).slice(7), 'hex').toString('base64')]],
      false,
    ],
    ['a similar header name', (b) => [['Cronofy-HMAC-SHA-256', good(b)]], false],
    ['the secret itself', () => [['Cronofy-HMAC-SHA256', secret]], false],
  ];
  // base64url only differs from base64 when the value has a '+' or '/'.
  const urlUnsafe = kit.real.find((b) => /[+/]/.test(sign(b))) as Buffer;
  const cases: Case[] = variants.map(([name, headers, ok]) => {
    const b = name === 'base64url instead of base64' ? urlUnsafe : kit.realBody();
    return ok
      ? { name, body: b, headers: headers(b), signed: true, allowed: [202] }
      : { name, body: b, headers: headers(b), allowed: [401] };
  });
  // Chunked transfer encoding, signed: API Gateway reads it; so must we.
  const b = kit.realBody();
  cases.push({
    name: 'chunked body, signed',
    body: Buffer.concat([Buffer.from(`${b.byteLength.toString(16)}\r\n`), b, Buffer.from('\r\n0\r\n\r\n')]),
    signedBody: b,
    headers: [
      ['Transfer-Encoding', 'chunked'],
      ['Cronofy-HMAC-SHA256', good(b)],
    ],
    signed: true,
    allowed: [202],
  });
  return cases;
});

describe('signature header variants against the local stack', { timeout: 180_000 }, () => {
  checkBadInputRun(
    run,
    {
      answers: 'answers 202 to every form of a correct signature and 401 to every other value',
      unsigned: 'never answers 202 to a header that is not a correct signature',
    },
    'signature header variants',
  );
});
