import { DYNAMODB_MIN_MAGNITUDE } from '../contract/storable.ts';

/**
 * JSON parsing for bodies whose values must end up in DynamoDB exactly as sent.
 *
 * `JSON.parse` turns every number into a double: a 20-digit phone number in `captured_data` silently loses
 * digits, and `1e200` cannot be stored at all (DynamoDB numbers hold 38 significant digits between 1e-130 and
 * 1e126). So one pass over the text, outside strings, does two things before parsing:
 * - refuses nesting deeper than `maxDepth` (JSON.parse would recurse into it), and
 * - turns each number a double cannot hold exactly, or DynamoDB cannot hold at all, into a string with the
 *   exact digits sent (`12345678901234567890` → `"12345678901234567890"`).
 * Every other number stays a number.
 */

export class JsonTooDeepError extends Error {
  override readonly name = 'JsonTooDeepError';
}

/** Significant decimal digits every double represents exactly. */
const EXACT_DIGITS = 15;

/** A number literal is kept as a number when a double holds it exactly and DynamoDB can store that double. */
export function isExactStorableNumber(literal: string): boolean {
  const value = Number(literal);
  if (!Number.isFinite(value)) return false;
  const mantissa = literal.replace(/^-/, '').replace(/[eE].*$/, '');
  // Every digit counts, trailing zeros included: a literal of 16 or more digits becomes a string, which is
  // always exact.
  const digits = mantissa.replace('.', '').replace(/^0+/, '');
  if (digits.length > EXACT_DIGITS) return false;
  if (Number.isInteger(value)) return Number.isSafeInteger(value);
  return Math.abs(value) >= DYNAMODB_MIN_MAGNITUDE;
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
/** Digits, `.`, `e`, `E`, `+`, `-`. */
const isNumberChar = (c: number) =>
  isDigit(c) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;
/** A JSON number literal; anything else is left for JSON.parse to reject. */
const NUMBER_LITERAL = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** The index of the quote that closes a string whose contents start at `from`, or the text's length. */
function closingQuote(text: string, from: number): number {
  for (let quote = text.indexOf('"', from); quote !== -1; quote = text.indexOf('"', quote + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return quote;
  }
  return text.length;
}

/** Parse JSON text, quoting numbers that would not survive storage (see above). Throws SyntaxError. */
export function parseJsonExact(text: string, maxDepth: number): unknown {
  let depth = 0;
  let out: string[] | undefined;
  let copiedTo = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Most of a body is string contents: jump to the closing quote (one not escaped by an odd run of
      // backslashes) with a native search instead of stepping through every character. An unterminated
      // string ends the scan, as JSON.parse will reject the text anyway.
      i = closingQuote(text, i + 1);
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) throw new JsonTooDeepError(`JSON nested deeper than ${maxDepth}`);
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x2d || isDigit(c)) {
      let end = i + 1;
      while (end < text.length && isNumberChar(text.charCodeAt(end))) end++;
      const literal = text.slice(i, end);
      if (NUMBER_LITERAL.test(literal) && !isExactStorableNumber(literal)) {
        out ??= [];
        out.push(text.slice(copiedTo, i), `"${literal}"`);
        copiedTo = end;
      }
      i = end - 1;
    }
  }
  if (out === undefined) return JSON.parse(text);
  out.push(text.slice(copiedTo));
  return JSON.parse(out.join(''));
}
