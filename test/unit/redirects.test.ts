import { describe, expect, it } from 'vitest';
import { ConfigError, DATA_CENTERS } from '#shared/core/config.ts';
import {
  acceptableValue,
  allowedMetadata,
  errorPage,
  escapeHtml,
  METADATA_KEYS,
  parsePublicConfig,
  parseQuery,
  publicLinkUrl,
  redirectDestination,
  withQuery,
} from '#shared/recipients/redirects.ts';

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

describe('withQuery and redirectDestination', () => {
  it('appends scheduling_request_id and metadata as Cronofy would', () => {
    expect(
      redirectDestination('https://example.com/handle_time_chosen', 'srq_52b65401a5d87bb4f0bee44e', {
        correlation_id: 'your-value',
      }),
    ).toBe(
      'https://example.com/handle_time_chosen?scheduling_request_id=srq_52b65401a5d87bb4f0bee44e&correlation_id=your-value',
    );
  });

  it('keeps the configured query string byte for byte, and the fragment last', () => {
    expect(
      redirectDestination('https://ats.example.com/a/b?x=%20y&flag#done', 'srq_1', { utm_source: 'mail' }),
    ).toBe('https://ats.example.com/a/b?x=%20y&flag&scheduling_request_id=srq_1&utm_source=mail#done');
  });

  it('lets a configured parameter win over a forwarded one of the same name', () => {
    expect(
      redirectDestination('https://ats.example.com/p?utm_source=ats', undefined, { utm_source: 'mail' }),
    ).toBe('https://ats.example.com/p?utm_source=ats');
  });

  it('adds nothing when there is nothing to forward (no invented scheduling_request_id)', () => {
    expect(redirectDestination('https://ats.example.com/p', undefined, {})).toBe('https://ats.example.com/p');
  });

  it('encodes values so they cannot break out of the query', () => {
    const url = new URL(
      withQuery('https://ats.example.com/p', [['correlation_id', '&x=1#frag /?\\@evil.com']]),
    );
    expect(url.host).toBe('ats.example.com');
    expect(url.pathname).toBe('/p');
    expect(url.hash).toBe('');
    expect([...url.searchParams]).toEqual([['correlation_id', '&x=1#frag /?\\@evil.com']]);
  });
});

describe('publicLinkUrl', () => {
  const expectedHosts = {
    us: 'app.cronofy.com',
    uk: 'app-uk.cronofy.com',
    de: 'app-de.cronofy.com',
    au: 'app-au.cronofy.com',
    ca: 'app-ca.cronofy.com',
    sg: 'app-sg.cronofy.com',
  } as const;

  it.each(DATA_CENTERS)('uses the %s data center host', (dataCenter) => {
    const url = publicLinkUrl(dataCenter, 'Q5-ZDPM8', 'jwt.token.here', { correlation_id: 'CAND-66' });
    expect(url).toBe(
      `https://${expectedHosts[dataCenter]}/pls/Q5-ZDPM8?claim_token=jwt.token.here&correlation_id=CAND-66`,
    );
  });
});

describe('errorPage', () => {
  it.each([400, 404, 500, 503] as const)('%i is a small, readable HTML page with safe headers', (status) => {
    const page = errorPage(status);
    expect(page.statusCode).toBe(status);
    expect(page.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
    });
    expect(page.headers['content-security-policy']).toMatch(/^default-src 'none'; style-src 'unsafe-inline'/);
    expect(page.body).toMatch(/^<!doctype html>/);
    expect(page.body).toContain('<h1>');
    expect(page.body.length).toBeLessThan(2048);
    expect(page.body).not.toMatch(/stack|Error|\{"/);
  });

  it('says what happened in words a recipient understands', () => {
    expect(errorPage(404).body).toContain('This link is not valid');
    expect(errorPage(503).body).toContain('Please try again');
    expect(errorPage(503).headers['retry-after']).toBe('30');
  });

  it('escapes HTML', () => {
    expect(escapeHtml(`<script>"x" & 'y'</script>`)).toBe(
      '&#60;script&#62;&#34;x&#34; &#38; &#39;y&#39;&#60;/script&#62;',
    );
  });
});

describe('parsePublicConfig', () => {
  const valid = {
    dataCenter: 'uk',
    redirects: { time_chosen: 'https://ats.example.com/chosen' },
    publicLinks: { 'onsite-interview': 'Q5-ZDPM8' },
  };

  it('parses the JSON the stack puts in CRONOFY_PUBLIC_CONFIG', () => {
    expect(parsePublicConfig(JSON.stringify(valid))).toEqual(valid);
    expect(parsePublicConfig('{"dataCenter":"us"}')).toEqual({
      dataCenter: 'us',
      redirects: {},
      publicLinks: {},
    });
  });

  it('fails fast naming the variable and the key', () => {
    expect(() => parsePublicConfig(undefined)).toThrow(new ConfigError('CRONOFY_PUBLIC_CONFIG is not set'));
    expect(() => parsePublicConfig('{')).toThrow('CRONOFY_PUBLIC_CONFIG is not valid JSON');
    expect(() =>
      parsePublicConfig(JSON.stringify({ ...valid, redirects: { time_chosen: 'http://ats.example.com/' } })),
    ).toThrow(/CRONOFY_PUBLIC_CONFIG\.redirects\.time_chosen: must be an absolute https:\/\/ URL/);
    expect(() => parsePublicConfig(JSON.stringify({ ...valid, dataCenter: 'eu' }))).toThrow(
      /CRONOFY_PUBLIC_CONFIG\.dataCenter/,
    );
    expect(() => parsePublicConfig(JSON.stringify({ ...valid, publicLinks: { x: 'bad slug/..' } }))).toThrow(
      /CRONOFY_PUBLIC_CONFIG\.publicLinks\.x/,
    );
  });
});

describe('parsePublicConfig messages', () => {
  it('says what was expected where zod/mini has no message', () => {
    expect(() => parsePublicConfig('{"dataCenter":"us","redirects":[]}')).toThrow(
      /CRONOFY_PUBLIC_CONFIG\.redirects: expected record/,
    );
    expect(() => parsePublicConfig('{"dataCenter":"us","local":{}}')).toThrow(
      /CRONOFY_PUBLIC_CONFIG: unknown key\(s\); allowed: dataCenter, redirects, publicLinks/,
    );
  });
});
