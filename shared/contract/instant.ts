/**
 * Strict reading of the times a body sends, where a time decides order, identity or a horizon
 * (`notification.triggered_at`, event start/end in Event Trigger keys and the open-requests index).
 * `Date.parse` is lenient in ways that would put a notification in the wrong place: `2026-02-30T10:00:00Z` is
 * 2 March, `"1"` is 2001, a date-time without a zone is read in the process's time zone. Only what exists is
 * taken: an ISO 8601 / RFC 3339 instant (a calendar date, a time of day, and `Z` or a numeric offset), or a
 * calendar date on its own where a date is meant (all-day events). Anything else is no time at all.
 * Imports nothing.
 */

const INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?([Zz]|([+-])(\d{2}):?(\d{2}))$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Days in `month` (1–12) of `year` (proleptic Gregorian; leap years repeat every 400 years). */
const daysIn = (year: number, month: number) =>
  new Date(Date.UTC(2000 + (year % 400), month, 0)).getUTCDate();

const realDate = (year: number, month: number, day: number) =>
  month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month);

/** Epoch milliseconds of a calendar date at 00:00 UTC (`2026-12-01`), or undefined when it does not exist. */
export function parseCalendarDate(text: string): number | undefined {
  const match = DATE.exec(text);
  if (!match) return undefined;
  const [year, month, day] = match.slice(1, 4).map(Number) as [number, number, number];
  if (!realDate(year, month, day)) return undefined;
  const ms = Date.UTC(year, month - 1, day);
  // Date.UTC maps years 0–99 to 1900–1999.
  return new Date(ms).setUTCFullYear(year);
}

/** Epoch milliseconds of an ISO 8601 instant with its zone, or undefined for anything that is not one. */
export function parseInstant(text: string): number | undefined {
  const match = INSTANT.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction, zone, sign, oh, om] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s ?? 0);
  if (!realDate(year, month, day) || hour > 23 || minute > 59 || second > 59) return undefined;
  let offset = 0;
  if (zone !== 'Z' && zone !== 'z') {
    if (Number(oh) > 23 || Number(om) > 59) return undefined;
    offset = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  }
  const date = parseCalendarDate(`${y}-${mo}-${d}`) as number;
  const ms = Math.floor(Number(`0${fraction ?? ''}`) * 1000);
  return date + ((hour * 60 + minute - offset) * 60 + second) * 1000 + ms;
}

/** Times outside years 0000–9999 would not compare correctly as strings. */
const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const MIN_TIME_MS = new Date(Date.UTC(2000, 0, 1)).setUTCFullYear(0);

/** Epoch milliseconds as the stored form (UTC ISO 8601 with milliseconds), when within years 0000–9999. */
export function storedTime(ms: number | undefined): string | undefined {
  return ms === undefined || !Number.isFinite(ms) || ms > MAX_TIME_MS || ms < MIN_TIME_MS
    ? undefined
    : new Date(ms).toISOString();
}

/** An instant as it is stored (UTC ISO 8601 with milliseconds, so stored times compare as strings). */
export const normaliseInstant = (value: unknown): string | undefined =>
  typeof value === 'string' ? storedTime(parseInstant(value)) : undefined;
