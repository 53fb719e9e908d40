import { unmarshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { fromAttributeMap, parseStreamImage } from '#shared/contract/records.ts';

/** The contract's own converter of DynamoDB JSON gives what the SDK's `unmarshall` gives. */
describe('fromAttributeMap (the contract needs no AWS SDK)', () => {
  const image = {
    s: { S: 'text' },
    n: { N: '42.5' },
    big: { N: '12345678901234567890' },
    b: { B: new Uint8Array([1, 2, 3]) },
    t: { BOOL: true },
    nil: { NULL: true },
    l: { L: [{ S: 'a' }, { N: '1' }, { M: { x: { BOOL: false } } }] },
    m: { M: { inner: { L: [] }, deeper: { M: { y: { S: '' } } } } },
    ss: { SS: ['a', 'b'] },
    ns: { NS: ['1', '2'] },
    bs: { BS: [new Uint8Array([9])] },
  };

  it('converts every attribute type as unmarshall does', () => {
    expect(fromAttributeMap(image)).toEqual(unmarshall(image));
  });

  it('rejects an unknown type and an empty value as unmarshall does', () => {
    expect(() => fromAttributeMap({ x: { Q: 'no' } })).toThrow('Unsupported type passed: Q');
    expect(() => unmarshall({ x: { Q: 'no' } } as never)).toThrow('Unsupported type passed: Q');
    expect(() => fromAttributeMap({ x: {} })).toThrow('No value defined');
  });

  it('parses a stream image into a record', () => {
    expect(
      parseStreamImage({
        entity: { S: 'redirect' },
        step: { S: 'select' },
        at: { S: '2026-01-01T00:00:00.000Z' },
        pk: { S: 'redirect#1' },
      }),
    ).toEqual({ entity: 'redirect', step: 'select', at: '2026-01-01T00:00:00.000Z' });
  });
});
