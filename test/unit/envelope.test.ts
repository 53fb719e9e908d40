import { describe, expect, it } from 'vitest';
import { encodeEnvelope, idempotencyKey, MAX_BODY_BYTES, MAX_MESSAGE_BYTES } from '../../shared/envelope.ts';
import { decodeEnvelope, EnvelopeError } from '../../shared/worker/queue-message.ts';

const at = new Date('2026-11-23T10:00:00.123Z');

describe('idempotency key', () => {
  it('is the Cronofy-Notification-ID header when present', () => {
    expect(idempotencyKey('  ntf_abc123 ', Buffer.from('{}'))).toBe('ntf_abc123');
  });
  it('is sha256 of the raw body otherwise', () => {
    // sha256("{}")
    expect(idempotencyKey(undefined, Buffer.from('{}'))).toBe(
      'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    );
    expect(idempotencyKey('', Buffer.from('{}'))).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe('queue envelope', () => {
  it('round-trips a UTF-8 body verbatim', () => {
    const body = '{"notification":{"type":"x"},"name":"Zoë \\u00e9"}\n';
    const envelope = decodeEnvelope(encodeEnvelope('k1', Buffer.from(body), at));
    expect(envelope).toEqual({
      v: 1,
      key: 'k1',
      receivedAt: '2026-11-23T10:00:00.123Z',
      encoding: 'utf8',
      body,
    });
  });

  it('carries invalid UTF-8 as base64 so no byte is lost', () => {
    const raw = Buffer.from([0x7b, 0xc3, 0x28, 0x7d]);
    const envelope = decodeEnvelope(encodeEnvelope('k2', raw, at));
    expect(envelope.encoding).toBe('base64');
    expect(Buffer.from(envelope.body, 'base64').equals(raw)).toBe(true);
  });

  it('keeps even a worst-case body within the queue limit', () => {
    const controlChars = Buffer.alloc(MAX_BODY_BYTES, 0x01);
    const message = encodeEnvelope('k3', controlChars, at);
    expect(Buffer.byteLength(message)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(Buffer.from(decodeEnvelope(message).body, 'base64').equals(controlChars)).toBe(true);
  });

  it('rejects messages that are not envelopes', () => {
    expect(() => decodeEnvelope('not json')).toThrow(EnvelopeError);
    expect(() => decodeEnvelope('{"v":2}')).toThrow(EnvelopeError);
  });
});
