import { wellFormed } from './keys.ts';

/**
 * Make a value from a signed body storable in DynamoDB as it is, or as close as DynamoDB allows, so that no
 * notification fails to be recorded because of what it contains:
 * - strings with unpaired UTF-16 surrogates (JSON allows `"\ud800"`) get U+FFFD in their place;
 * - map keys that DynamoDB refuses (empty) or that are absurdly long (over 1,024 characters) are left out, and so
 *   are keys named `__proto__` (PROTO_KEY): the AWS SDK v3 marshals map keys by assignment (the key becomes the
 *   map's prototype) and its DynamoDB deserializer fails on such a key, so a record holding one could never be
 *   read back (every later notification for it would fail). The plan counts them on the notification record;
 * - structures nested deeper than `levels` become their JSON text (DynamoDB allows 32 levels per item);
 * - numbers from a body are already exact and in range (shared/notifications/exact-json.ts quotes the others);
 *   any other (from an answer JSON.parse read: past 2^53, where the SDK refuses to marshal it, or out of DynamoDB's
 *   range) becomes its decimal text, and -0 becomes 0 (DynamoDB reads it back as 0, so a record holding -0 would
 *   differ from itself read back, and a same-meaning write would be written).
 * The raw body is always on the notification record, verbatim, so nothing is lost for an audit.
 */

export const MAX_MAP_KEY_LENGTH = 1024;

/** A map key no record keeps (see above). */
export const PROTO_KEY = '__proto__';

/** How many map keys named PROTO_KEY `value` holds (own properties: JSON.parse creates them as such). */
export function protoKeyCount(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + protoKeyCount(item), 0);
  return Object.entries(value).reduce(
    (sum, [key, item]) => sum + (key === PROTO_KEY ? 1 : protoKeyCount(item)),
    0,
  );
}

/** Levels a stored value may use below its attribute (top-level attributes are at most two levels deep). */
export const STORABLE_LEVELS = 24;

/** DynamoDB's smallest non-zero number magnitude. */
export const DYNAMODB_MIN_MAGNITUDE = 1e-130;

function storableNumber(value: number): number | string {
  if (value === 0) return 0;
  // JSON.parse reads 1e400 as Infinity, which the SDK refuses to marshal.
  if (!Number.isFinite(value)) return String(value);
  // A finite double that is not an integer is below 2^53: only its smallness can be out of DynamoDB's range.
  const fits = Number.isInteger(value)
    ? Number.isSafeInteger(value)
    : Math.abs(value) >= DYNAMODB_MIN_MAGNITUDE;
  return fits ? value : String(value);
}

export function storable(value: unknown, levels = STORABLE_LEVELS): unknown {
  if (typeof value === 'string') return wellFormed(value);
  if (typeof value === 'number') return storableNumber(value);
  if (value === null || typeof value !== 'object') return value;
  if (levels <= 0) return storable(JSON.stringify(value), 1);
  if (Array.isArray(value)) return value.map((item) => storable(item, levels - 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === '' || key.length > MAX_MAP_KEY_LENGTH || key === PROTO_KEY) continue;
    if (item === undefined) continue;
    // A data property even for `__proto__` (plain assignment would set the object's prototype instead).
    Object.defineProperty(out, wellFormed(key), {
      value: storable(item, levels - 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** A short text from a body (a type name, an id on a notification record): bounded, well-formed. */
export function storableText(value: string, maxLength: number, digest: (text: string) => string): string {
  const text = wellFormed(value);
  return text.length <= maxLength ? text : `sha256:${digest(text)}`;
}
