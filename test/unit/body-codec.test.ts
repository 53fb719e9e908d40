import { deflateRawSync } from 'node:zlib';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { notificationItem } from '#shared/aws/dynamo-store.ts';
import {
  BODY_ATTRIBUTE,
  compressBody,
  contractBody,
  decompressBody,
  storedBodyBytes,
  withContractBody,
} from '#shared/contract/body-codec.ts';
import { type NotificationRecord, parseStreamImage } from '#shared/contract/records.ts';
import { fixture } from '../support/cronofy-payloads.ts';

const record = (body: string, body_encoding: 'utf8' | 'base64' = 'utf8'): NotificationRecord => ({
  entity: 'notification',
  notification_id: 'sha256:0f',
  type: 'scheduling_request_time_chosen',
  status: 'applied',
  received_at: '2026-11-23T10:00:00.000Z',
  body,
  body_encoding,
  processed_at: '2026-11-23T10:00:01.000Z',
});

const bodies: Record<string, Buffer> = {
  'a Cronofy example': Buffer.from(fixture('seed-time-chosen.json')),
  'invalid JSON (the seed participant example)': Buffer.from(fixture('seed-participant-status-changed.txt')),
  empty: Buffer.alloc(0),
  'a byte-order mark, an emoji, U+FFFF': Buffer.from('\ufeff{"a":"😀\uffff"}'),
  'invalid UTF-8': Buffer.from([0xff, 0xfe, 0x7b, 0x80, 0xc3]),
};

describe('notification bodies stored compressed', () => {
  for (const [name, raw] of Object.entries(bodies)) {
    it(`gives back the exact bytes: ${name}`, () => {
      const { body, body_encoding } = contractBody(raw);
      const item = notificationItem(record(body, body_encoding));
      // The stored item holds the compressed attribute instead of `body` and `body_encoding`.
      expect(item.body).toBeUndefined();
      expect(item.body_encoding).toBeUndefined();
      const stored = item[BODY_ATTRIBUTE]?.B as Uint8Array;
      expect(decompressBody(stored).equals(raw)).toBe(true);
      expect(storedBodyBytes({ [BODY_ATTRIBUTE]: stored }).equals(raw)).toBe(true);
      // A downstream reader gets the contract's form back, from the SDK's bytes or a Lambda event's base64.
      const parsed = parseStreamImage(item);
      expect(parsed).toEqual(record(body, body_encoding));
      const fromEvent = { ...item, [BODY_ATTRIBUTE]: { B: Buffer.from(stored).toString('base64') } };
      expect(parseStreamImage(fromEvent as never)).toEqual(parsed);
    });
  }

  it('keeps text as text and other bytes as base64, as ingest decides', () => {
    expect(contractBody(Buffer.from('{"x":1}'))).toEqual({ body: '{"x":1}', body_encoding: 'utf8' });
    expect(contractBody(Buffer.from([0xc3]))).toEqual({ body: 'ww==', body_encoding: 'base64' });
  });

  it("shrinks Cronofy's example to under a third", () => {
    const raw = Buffer.from(fixture('seed-time-chosen.json'));
    expect(compressBody(raw).byteLength).toBeLessThan(raw.byteLength / 3);
  });

  it('reads records written before compression (body as text or base64) as they are', () => {
    const text = marshall(record('{"notification":{}}'));
    expect(parseStreamImage(text)).toEqual(record('{"notification":{}}'));
    expect(storedBodyBytes(withContractBody({ body: '//4=', body_encoding: 'base64' }))).toEqual(
      Buffer.from([0xff, 0xfe]),
    );
    expect(storedBodyBytes({ body: 'é', body_encoding: 'utf8' })).toEqual(Buffer.from('é'));
  });

  it('decodes with the frozen version-1 dictionary (a stored record must read forever)', () => {
    // Compressed once with DICTIONARY_V1; an edit of the dictionary breaks every stored record, and this.
    const golden = Buffer.from('o3khTnohnZ6fk5Kap1RbCwA=', 'base64');
    expect(decompressBody(golden).toString()).toBe(GOLDEN_TEXT);
  });

  it('refuses to inflate past 1 MB (a hand-made item cannot exhaust a reader)', () => {
    const bomb = deflateRawSync(Buffer.alloc(2 * 1024 * 1024));
    expect(() => storedBodyBytes({ [BODY_ATTRIBUTE]: bomb })).toThrow();
  });
});

const GOLDEN_TEXT =
  '{"notification":{"type":"scheduling_request_time_chosen","triggered_at":"2026-11-23T10:00:00Z"},"scheduling_request":{"scheduling_request_id":"srq_golden"}}';
