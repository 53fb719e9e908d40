import { describe, expect, it } from 'vitest';
import { NOTIFICATION_BODY_MAX_BYTES, SQS_MESSAGE_MAX_BYTES } from '#shared/contract/limits.ts';
import { encodeEnvelope, idempotencyKey } from '#shared/notifications/envelope.ts';
import { decodeEnvelope, EnvelopeError } from '#shared/notifications/queue-message.ts';

const at = new Date('2026-11-23T10:00:00.123Z');
// sha256("{}")
const EMPTY_OBJECT_KEY = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

describe('idempotency key', () => {
  it('is sha256 of the raw body, always', () => {
    expect(idempotencyKey(Buffer.from('{}'))).toBe(EMPTY_OBJECT_KEY);
  });

  it('does not depend on the Cronofy-Notification-ID header (it is not signed)', () => {
    const one = decodeEnvelope(
      encodeEnvelope({ body: Buffer.from('{}'), receivedAt: at, headerId: 'ntf_1' }),
    );
    const two = decodeEnvelope(
      encodeEnvelope({ body: Buffer.from('{}'), receivedAt: at, headerId: 'ntf_2' }),
    );
    expect(one.key).toBe(EMPTY_OBJECT_KEY);
    expect(two.key).toBe(EMPTY_OBJECT_KEY);
    expect([one.headerId, two.headerId]).toEqual(['ntf_1', 'ntf_2']);
  });
});

describe('queue envelope', () => {
  it('round-trips a UTF-8 body verbatim, with the header id for tracing', () => {
    const body = '{"notification":{"type":"x"},"name":"Zoë \\u00e9"}\n';
    const envelope = decodeEnvelope(
      encodeEnvelope({ body: Buffer.from(body), receivedAt: at, headerId: ' ntf_abc ' }),
    );
    expect(envelope).toEqual({
      key: idempotencyKey(Buffer.from(body)),
      receivedAt: '2026-11-23T10:00:00.123Z',
      headerId: 'ntf_abc',
      encoding: 'utf8',
      body,
    });
  });

  it('drops a header id that is too long or not printable ASCII', () => {
    for (const headerId of ['x'.repeat(257), 'ntf\u0000id', 'ntf é']) {
      expect(
        decodeEnvelope(encodeEnvelope({ body: Buffer.from('{}'), receivedAt: at, headerId })).headerId,
      ).toBeUndefined();
    }
  });

  it('carries invalid UTF-8 as base64 so no byte is lost', () => {
    const raw = Buffer.from([0x7b, 0xc3, 0x28, 0x7d]);
    const envelope = decodeEnvelope(encodeEnvelope({ body: raw, receivedAt: at }));
    expect(envelope.encoding).toBe('base64');
    expect(Buffer.from(envelope.body, 'base64').equals(raw)).toBe(true);
    expect(envelope.key).toBe(idempotencyKey(raw));
  });

  it('keeps a worst-case body within the queue limit', () => {
    const controlChars = Buffer.alloc(NOTIFICATION_BODY_MAX_BYTES, 0x01);
    const message = encodeEnvelope({ body: controlChars, receivedAt: at });
    expect(Buffer.byteLength(message)).toBeLessThanOrEqual(SQS_MESSAGE_MAX_BYTES);
  });

  it.each([
    ['quotes', '"'],
    ['backslashes', '\\'],
    ['control characters', '\u0001'],
  ])(
    'a valid UTF-8 body at the size limit made of %s travels base64 but reaches the worker as text',
    (_, unit) => {
      const prefix = '{"notification":{"type":"x"},"notes":"';
      const text = `${prefix}${unit.repeat(NOTIFICATION_BODY_MAX_BYTES - prefix.length - 2)}"}`;
      expect(Buffer.byteLength(text)).toBe(NOTIFICATION_BODY_MAX_BYTES);
      const message = encodeEnvelope({ body: Buffer.from(text), receivedAt: at });
      expect(Buffer.byteLength(message)).toBeLessThanOrEqual(SQS_MESSAGE_MAX_BYTES);
      expect(JSON.parse(message).encoding).toBe('base64');
      const envelope = decodeEnvelope(message);
      expect(envelope.encoding).toBe('utf8');
      expect(envelope.body).toBe(text);
    },
  );

  it('reads messages of the previous version (v1), keyed by the digest', () => {
    const v1 = JSON.stringify({
      v: 1,
      key: 'ntf_legacy',
      receivedAt: at.toISOString(),
      encoding: 'utf8',
      body: '{}',
    });
    expect(decodeEnvelope(v1)).toEqual({
      key: EMPTY_OBJECT_KEY,
      receivedAt: at.toISOString(),
      headerId: 'ntf_legacy',
      encoding: 'utf8',
      body: '{}',
    });
    const v1Digest = JSON.stringify({
      v: 1,
      key: EMPTY_OBJECT_KEY,
      receivedAt: at.toISOString(),
      encoding: 'utf8',
      body: '{}',
    });
    expect(decodeEnvelope(v1Digest).headerId).toBeUndefined();
  });

  it('rejects messages that are not envelopes', () => {
    expect(() => decodeEnvelope('not json')).toThrow(EnvelopeError);
    expect(() => decodeEnvelope('{"v":3}')).toThrow(EnvelopeError);
  });

  it('takes receivedAt only as the ingest writes it (UTC, milliseconds), and a v3 tenant id only when valid', () => {
    const message = (fields: Record<string, unknown>) =>
      JSON.stringify({ v: 2, receivedAt: at.toISOString(), encoding: 'utf8', body: '{}', ...fields });
    expect(decodeEnvelope(message({})).receivedAt).toBe(at.toISOString());
    // Other precisions or offsets would not order as text against stored times.
    for (const receivedAt of [
      '2026-11-23T10:00:00Z',
      '2026-11-23T10:00:00.000+00:00',
      '2026-02-30T10:00:00.000Z',
      7,
    ])
      expect(() => decodeEnvelope(message({ receivedAt }))).toThrow(EnvelopeError);
    const v3 = (tenantId: string) => message({ v: 3, tenantId, signedBy: 'tenant' });
    expect(decodeEnvelope(v3('acme-1')).tenantId).toBe('acme-1');
    expect(() => decodeEnvelope(v3('acme#1'))).toThrow(EnvelopeError);
    expect(() => decodeEnvelope(message({ v: 1, key: '' }))).toThrow(EnvelopeError);
    for (const v of [4, '2', null]) expect(() => decodeEnvelope(message({ v }))).toThrow(EnvelopeError);
    expect(() => decodeEnvelope('null')).toThrow(EnvelopeError);
  });
});
