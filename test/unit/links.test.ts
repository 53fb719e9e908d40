import { describe, expect, it } from 'vitest';
import { DATA_CENTERS } from '#shared/core/config.ts';
import { publicLinkUrl, redirectDestination, withQuery } from '#shared/recipients/links.ts';

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
