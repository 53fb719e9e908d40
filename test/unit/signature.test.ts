import { describe, expect, it } from 'vitest';
import { signBody, verifySignature } from '#shared/notifications/signature.ts';

// Cronofy's published test vector (authentication docs).
const VECTOR_SECRET = 'CRN_NggYusqPGLxwjw5FHOJYOqSrTPNXy8WQf14OID';
const VECTOR_BODY = Buffer.from('{"example":"well-known"}');
const VECTOR_HMAC = '5DxentQi5YSXODEzTVv06sRwJ3pULIz1KrYv20qxEK0=';

describe('Cronofy HMAC signature', () => {
  it('matches Cronofy published test vector', () => {
    expect(signBody(VECTOR_BODY, VECTOR_SECRET)).toBe(VECTOR_HMAC);
    expect(verifySignature(VECTOR_BODY, VECTOR_HMAC, [VECTOR_SECRET])).toBe(true);
  });

  it('accepts any value of a comma-separated header, with spaces around values', () => {
    const other = signBody(VECTOR_BODY, 'CRN_old_secret');
    expect(verifySignature(VECTOR_BODY, `${other}, ${VECTOR_HMAC}`, [VECTOR_SECRET])).toBe(true);
    expect(verifySignature(VECTOR_BODY, ` ${VECTOR_HMAC} ,${other}`, [VECTOR_SECRET])).toBe(true);
  });

  it('accepts when any configured secret matches (rotation on our side)', () => {
    expect(verifySignature(VECTOR_BODY, VECTOR_HMAC, ['CRN_new_secret', VECTOR_SECRET])).toBe(true);
  });

  it('rejects a tampered body, a wrong secret, a missing header and no secrets', () => {
    expect(verifySignature(Buffer.from('{"example":"well-known" }'), VECTOR_HMAC, [VECTOR_SECRET])).toBe(
      false,
    );
    expect(verifySignature(VECTOR_BODY, VECTOR_HMAC, ['CRN_other'])).toBe(false);
    expect(verifySignature(VECTOR_BODY, undefined, [VECTOR_SECRET])).toBe(false);
    expect(verifySignature(VECTOR_BODY, '', [VECTOR_SECRET])).toBe(false);
    expect(verifySignature(VECTOR_BODY, VECTOR_HMAC, [])).toBe(false);
  });

  it('rejects values that are not the standard Base64 of a 32-byte digest', () => {
    // Find a body whose signature uses '+' or '/', then send it in the URL-safe alphabet.
    let body = VECTOR_BODY;
    for (let i = 0; !/[+/]/.test(signBody(body, VECTOR_SECRET)); i++) body = Buffer.from(`{"n":${i}}`);
    const standard = signBody(body, VECTOR_SECRET);
    const urlSafe = standard.replace(/\+/g, '-').replace(/\//g, '_');
    expect(verifySignature(body, standard, [VECTOR_SECRET])).toBe(true);
    expect(verifySignature(body, urlSafe, [VECTOR_SECRET])).toBe(false);
    expect(verifySignature(VECTOR_BODY, VECTOR_HMAC.slice(0, -1), [VECTOR_SECRET])).toBe(false);
    expect(verifySignature(VECTOR_BODY, `${VECTOR_HMAC}AAAA`, [VECTOR_SECRET])).toBe(false);
    expect(verifySignature(VECTOR_BODY, Buffer.from(VECTOR_HMAC).toString('hex'), [VECTOR_SECRET])).toBe(
      false,
    );
  });

  it('verifies over raw bytes, not re-serialised JSON', () => {
    const raw = Buffer.from('{ "b": 1,\n  "a": "é" }');
    const signature = signBody(raw, VECTOR_SECRET);
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(raw.toString())));
    expect(verifySignature(raw, signature, [VECTOR_SECRET])).toBe(true);
    expect(verifySignature(reserialised, signature, [VECTOR_SECRET])).toBe(false);
  });

  it('verifies bodies that are not valid UTF-8', () => {
    const raw = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x7d]);
    expect(verifySignature(raw, signBody(raw, VECTOR_SECRET), [VECTOR_SECRET])).toBe(true);
  });
});
