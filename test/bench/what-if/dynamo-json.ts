import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/**
 * What-if stand-in for `@aws-sdk/util-dynamodb` (`marshall`, `unmarshall`) covering what the records hold:
 * JSON values (strings, finite numbers, booleans, null, arrays, plain objects and maps). Aliased over the package in
 * the what-if worker bundle to measure what the general converter costs in bytes and cold start.
 */

interface Options {
  removeUndefinedValues?: boolean;
  convertClassInstanceToMap?: boolean;
}

function toAttribute(value: unknown, options: Options): AttributeValue | undefined {
  if (value === undefined) {
    if (options.removeUndefinedValues) return undefined;
    throw new Error('undefined value');
  }
  if (value === null) return { NULL: true };
  if (typeof value === 'string') return { S: value };
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`number ${value} cannot be stored`);
    return { N: String(value) };
  }
  if (typeof value === 'boolean') return { BOOL: value };
  if (Array.isArray(value)) {
    return { L: value.map((item) => toAttribute(item, options) ?? { NULL: true }) };
  }
  // The store hands over maps (shared/aws/dynamo-store.ts `asMaps`: keys such as `constructor` stay data).
  if (value instanceof Map) return { M: marshall(value, options) };
  if (typeof value === 'object') return { M: marshall(value as Record<string, unknown>, options) };
  throw new Error(`cannot store a ${typeof value}`);
}

export function marshall(
  object: Record<string, unknown> | Map<string, unknown>,
  options: Options = {},
): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {};
  for (const [key, value] of object instanceof Map ? object.entries() : Object.entries(object)) {
    const attribute = toAttribute(value, options);
    if (attribute !== undefined) item[key] = attribute;
  }
  return item;
}

function fromAttribute(attribute: AttributeValue): unknown {
  if (attribute.S !== undefined) return attribute.S;
  if (attribute.N !== undefined) return Number(attribute.N);
  if (attribute.BOOL !== undefined) return attribute.BOOL;
  if (attribute.NULL !== undefined) return null;
  if (attribute.L !== undefined) return attribute.L.map(fromAttribute);
  if (attribute.M !== undefined) return unmarshall(attribute.M);
  if (attribute.SS !== undefined) return new Set(attribute.SS);
  if (attribute.NS !== undefined) return new Set(attribute.NS.map(Number));
  if (attribute.B !== undefined) return attribute.B;
  return undefined;
}

export function unmarshall(item: Record<string, AttributeValue>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).map(([key, value]) => [key, fromAttribute(value)]));
}
