import { describe, expect, it } from 'vitest';
import { METADATA_KEYS } from '#shared/contract/keys.ts';
import { acceptableValue, allowedMetadata, parseQuery } from '#shared/recipients/query.ts';

describe('acceptableValue', () => {
  it('accepts up to 128 characters, counting characters rather than UTF-16 units', () => {
    expect(acceptableValue('CAND-66')).toBe(true);
    expect(acceptableValue('x'.repeat(128))).toBe(true);
    expect(acceptableValue('x'.repeat(129))).toBe(false);
    // 128 emoji are 256 UTF-16 units but 128 characters.
    expect(acceptableValue('😀'.repeat(128))).toBe(true);
    expect(acceptableValue('😀'.repeat(129))).toBe(false);
  });

  it('refuses empty values and control characters (CR, LF, NUL, TAB, DEL, C1)', () => {
    for (const value of ['', 'a\rb', 'a\nb', 'a\u0000b', 'a\tb', 'a\u007fb', 'a\u0085b']) {
      expect(acceptableValue(value)).toBe(false);
    }
  });
});

describe('parseQuery', () => {
  const wanted = ['scheduling_request_id', ...METADATA_KEYS];

  it('decodes percent-escapes and + as a space', () => {
    const query = parseQuery('correlation_id=CAND%2066&utm_source=news+letter&utm_term=caf%C3%A9', wanted);
    expect(Object.fromEntries(query)).toEqual({
      correlation_id: 'CAND 66',
      utm_source: 'news letter',
      utm_term: 'café',
    });
  });

  it('keeps the first value of a repeated parameter, even when the first is unusable', () => {
    expect(parseQuery('correlation_id=first&correlation_id=second', wanted).get('correlation_id')).toBe(
      'first',
    );
    expect(
      parseQuery(`correlation_id=${'x'.repeat(129)}&correlation_id=second`, wanted).has('correlation_id'),
    ).toBe(false);
  });

  it('drops unknown names, malformed escapes, values over 128 characters and control characters', () => {
    const query = parseQuery(
      [
        'redirect_uri=https://evil.example',
        'correlation_id=%E0%A4%A',
        `utm_source=${'a'.repeat(129)}`,
        'utm_medium=a%0d%0aSet-Cookie:x=1',
        'utm_campaign=',
        'utm_content',
        'utm_term=ok',
        'scheduling_request_id=srq_1',
      ].join('&'),
      wanted,
    );
    expect(Object.fromEntries(query)).toEqual({ utm_term: 'ok', scheduling_request_id: 'srq_1' });
  });

  it('matches names exactly (case and encoding of the name are the caller’s problem)', () => {
    expect(parseQuery('Correlation_ID=x&correlation%5Fid=y', wanted).get('correlation_id')).toBe('y');
    expect(parseQuery('CORRELATION_ID=x', wanted).size).toBe(0);
  });

  it('handles an absent or empty query string', () => {
    expect(parseQuery(undefined, wanted).size).toBe(0);
    expect(parseQuery('', wanted).size).toBe(0);
    expect(parseQuery('&&=&', wanted).size).toBe(0);
  });
});

describe('allowedMetadata', () => {
  it('keeps allow-listed keys in allow-list order and nothing else', () => {
    const query = new Map([
      ['utm_content', 'c'],
      ['scheduling_request_id', 'srq_1'],
      ['correlation_id', 'CAND-66'],
    ]);
    expect(Object.entries(allowedMetadata(query))).toEqual([
      ['correlation_id', 'CAND-66'],
      ['utm_content', 'c'],
    ]);
  });
});
