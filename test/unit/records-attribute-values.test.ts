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

/** The downstream contract (README, "Records for downstream readers"): anything that is not a record parses to `undefined`, never an exception. */
describe('parseStreamImage on items that are not records', () => {
  const request = {
    entity: { S: 'scheduling_request' },
    scheduling_request_id: { S: 'sr_1' },
    updated_at: { S: '2026-01-01T00:00:00.000Z' },
  };

  it('an attribute named __proto__ is a value, never the prototype a record is read through', () => {
    // JSON.parse keeps `__proto__` as an own key, as a Lambda event's image arrives; assigned, it would become the
    // prototype of the plain item, and its fields would be read as the item's own.
    const redirect = { entity: { S: 'redirect' }, step: { S: 's' }, at: { S: '2026-01-01T00:00:00.000Z' } };
    expect(parseStreamImage(JSON.parse(JSON.stringify({ ['__proto__']: { M: redirect } })))).toBeUndefined();
    expect(fromAttributeMap(JSON.parse('{"m":{"M":{"__proto__":{"S":"x"}}}}'))).toEqual({
      m: JSON.parse('{"__proto__":"x"}'),
    });
  });

  it('parses every record entity, with tenant_id on the state records', () => {
    expect(parseStreamImage({ ...request, tenant_id: { S: 'acme' } })).toMatchObject({ tenant_id: 'acme' });
    expect(
      parseStreamImage({
        entity: { S: 'event_trigger' },
        event_id: { S: 'e' },
        transition: { M: { before: { S: 'event_start' } } },
        notification_id: { S: 'n' },
        received_at: { S: '2026-01-01T00:00:00.000Z' },
        tenant_id: { S: 'acme' },
      }),
    ).toMatchObject({ entity: 'event_trigger', tenant_id: 'acme' });
  });

  it.each([
    [
      'an idempotency lease',
      {
        entity: { S: 'idempotency' },
        status: { S: 'in_progress' },
        created_at: { S: 'x' },
        expires_at: { N: '1' },
      },
    ],
    ['an unknown entity', { entity: { S: 'lease' }, holder: { S: 'w1' } }],
    ['an item without entity', { pk: { S: 'x' } }],
    ['a record missing a required field', { entity: { S: 'scheduling_request' } }],
    ['a record with a field of the wrong type', { ...request, revision: { S: 'seven' } }],
    ['an unknown attribute type', { ...request, odd: { Q: 'x' } }],
    ['an attribute without a value', { ...request, odd: {} }],
    ['an attribute that is not an object', { ...request, odd: null }],
    [
      'an unmarshalled (plain) item',
      { entity: 'scheduling_request', scheduling_request_id: 'sr_1', updated_at: 'x' },
    ],
    ['an empty image', {}],
  ])('%s: undefined', (_name, image) => {
    expect(parseStreamImage(image as never)).toBeUndefined();
  });

  it.each([undefined, null, 'text', 42, []])('not an image at all (%s): undefined', (value) => {
    expect(parseStreamImage(value as never)).toBeUndefined();
  });
});
