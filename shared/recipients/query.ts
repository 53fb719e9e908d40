import { METADATA_KEYS } from '../contract/keys.ts';

/**
 * What a recipient's request may contribute: query *values* for a fixed list of names (the metadata allow-list
 * and, on redirects, `scheduling_request_id`), and a path segment compared exactly against configured names.
 */

export type MetadataKey = (typeof METADATA_KEYS)[number];
export type Metadata = Partial<Record<MetadataKey, string>>;

/** Cronofy's limit for metadata values; a longer value is dropped, because a cut correlation id is wrong data. */
export const MAX_VALUE_CHARS = 128;

// C0 and C1 control characters (CR/LF included) and DEL: never part of an identifier, often part of an attack.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/** A value we are willing to forward or record: non-empty, at most 128 characters, no control characters. */
export function acceptableValue(value: string): boolean {
  // (decodeURIComponent never yields lone surrogates: it throws on them, and the parameter is dropped.)
  if (value === '' || CONTROL_CHARACTERS.test(value)) return false;
  // Characters, not UTF-16 units (an emoji is one character); checked cheaply on length first.
  return value.length <= MAX_VALUE_CHARS || [...value].length <= MAX_VALUE_CHARS;
}

/**
 * The query string as name → first value. Unlike URLSearchParams, a malformed percent-encoding makes the
 * parameter disappear instead of turning into U+FFFD (a mangled id is wrong data). Only `wanted` names are
 * decoded, so a 10 KB junk parameter costs nothing.
 */
export function parseQuery(rawQuery: string | undefined, wanted: readonly string[]): Map<string, string> {
  const values = new Map<string, string>();
  if (!rawQuery) return values;
  const seen = new Set<string>();
  for (const pair of rawQuery.split('&')) {
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    const name = decodeQueryComponent(rawName);
    if (name === undefined || !wanted.includes(name) || seen.has(name)) continue;
    // First occurrence wins, even when it is unusable: a later duplicate must not sneak a value past the checks.
    seen.add(name);
    const value = decodeQueryComponent(eq === -1 ? '' : pair.slice(eq + 1));
    if (value !== undefined && acceptableValue(value)) values.set(name, value);
  }
  return values;
}

/** application/x-www-form-urlencoded decoding (`+` is a space), strict about malformed escapes. */
function decodeQueryComponent(raw: string): string | undefined {
  return decodeStrict(raw.replaceAll('+', ' '));
}

function decodeStrict(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** The allow-listed metadata present (and acceptable) in a query string, in allow-list order. */
export function allowedMetadata(query: Map<string, string>): Metadata {
  const metadata: Metadata = {};
  for (const key of METADATA_KEYS) {
    const value = query.get(key);
    if (value !== undefined) metadata[key] = value;
  }
  return metadata;
}

/**
 * A path segment as the route received it. API Gateway may hand it over encoded or decoded; either way only an
 * exact match against configured names counts, so decoding once more can only turn junk into other junk.
 */
export function pathSegment(raw: string | undefined): string | undefined {
  return raw === undefined ? undefined : decodeStrict(raw);
}
