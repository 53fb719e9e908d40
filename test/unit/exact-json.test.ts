import { describe, expect, it } from 'vitest';
import { isExactStorableNumber, JsonTooDeepError, parseJsonExact } from '#shared/notifications/exact-json.ts';

/** The scan as it was, character by character: the reference the faster string skipping must match. */
function reference(text: string, maxDepth: number): unknown {
  let depth = 0;
  let inString = false;
  let out: string[] | undefined;
  let copiedTo = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) throw new JsonTooDeepError(`JSON nested deeper than ${maxDepth}`);
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      while (end < text.length && /[\d.eE+-]/.test(text[end] as string)) end++;
      const literal = text.slice(i, end);
      if (/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(literal) && !isExactStorableNumber(literal)) {
        out ??= [];
        out.push(text.slice(copiedTo, i), `"${literal}"`);
        copiedTo = end;
      }
      i = end - 1;
    }
  }
  return JSON.parse(out === undefined ? text : [...out, text.slice(copiedTo)].join(''));
}

const outcome = (parse: () => unknown) => {
  try {
    return { value: parse() };
  } catch (error) {
    return { error: (error as Error).name, deep: error instanceof JsonTooDeepError };
  }
};

let seed = 42;
const random = (n: number) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed % n;
};
const PIECES = [
  '"',
  '\\',
  '\\"',
  '\\\\',
  '\\\\"',
  '{',
  '}',
  '[',
  ']',
  ':',
  ',',
  'a',
  ' ',
  '1',
  '-',
  '.',
  'e',
  '12345678901234567890',
  '1e200',
  '0.5',
  '"k":',
  '"\\u0022"',
  '"x\\\\"',
  '"]"',
  '"{"',
  '"12345678901234567890"',
];
const noise = () => Array.from({ length: 1 + random(40) }, () => PIECES[random(PIECES.length)]).join('');

describe('parseJsonExact', () => {
  it('gives what the character-by-character scan gives, on awkward text', () => {
    for (let i = 0; i < 5000; i++) {
      const text = noise();
      expect(
        outcome(() => parseJsonExact(text, 4)),
        text,
      ).toEqual(outcome(() => reference(text, 4)));
    }
  });

  it('skips strings however they are escaped, and still sees numbers and nesting outside them', () => {
    const text = '{"a\\\\":12345678901234567890,"b\\"[[[":"\\\\\\"{{{","c":[1e200,"1e200"]}';
    expect(parseJsonExact(text, 2)).toEqual({
      'a\\': '12345678901234567890',
      'b"[[[': '\\"{{{',
      c: ['1e200', '1e200'],
    });
    expect(() => parseJsonExact('[[["]]]"]]]', 2)).toThrow(JsonTooDeepError);
    expect(() => parseJsonExact('{"open', 64)).toThrow(SyntaxError);
  });
});
