import { describe, expect, it } from 'vitest';
import { appHost, ConfigError, parseConfig, publicConfigFromEnv } from '#shared/core/config.ts';

describe('configuration', () => {
  it('fills documented defaults', () => {
    expect(parseConfig({ dataCenter: 'de' })).toEqual({
      dataCenter: 'de',
      redirects: {},
      publicLinks: {},
      workerMaxConcurrency: 10,
      logRetentionDays: 30,
      notificationRetentionDays: 90,
      secretsCacheSeconds: 300,
      reconcileIntervalMinutes: 60,
      reconcileMaxCalls: 100,
      onboarding: {},
    });
  });

  it('takes the Organization Connect keys, naming a wrong one', () => {
    const config = parseConfig({
      dataCenter: 'us',
      clientId: 'abc_DEF-123',
      onboarding: { successUrl: 'https://ats.example.com/ok', errorUrl: 'https://ats.example.com/failed' },
    });
    expect(config.clientId).toBe('abc_DEF-123');
    expect(config.onboarding).toEqual({
      successUrl: 'https://ats.example.com/ok',
      errorUrl: 'https://ats.example.com/failed',
    });
    expect(() => parseConfig({ dataCenter: 'us', clientId: 'has space' })).toThrow(
      'cronofy.clientId: must be a Cronofy client id',
    );
    expect(() =>
      parseConfig({ dataCenter: 'us', onboarding: { successUrl: 'http://ats.example.com' } }),
    ).toThrow('cronofy.onboarding.successUrl: must be an absolute https:// URL without credentials');
    expect(() => parseConfig({ dataCenter: 'us', onboarding: { failUrl: 'https://x.example' } })).toThrow(
      'cronofy.onboarding',
    );
    expect(() =>
      parseConfig({
        dataCenter: 'us',
        local: { clientSecrets: ['a'], embedPublicKey: 'b', embedSecret: 'c', tenantsKey: 'short' },
      }),
    ).toThrow('cronofy.local.tenantsKey: must be base64 of 32 bytes');
  });

  it('takes reconcileIntervalMinutes 0 (off) to 1440 and reconcileMaxCalls 1 to 1000, naming a wrong one', () => {
    expect(parseConfig({ dataCenter: 'us', reconcileIntervalMinutes: 0 }).reconcileIntervalMinutes).toBe(0);
    expect(parseConfig({ dataCenter: 'us', reconcileMaxCalls: 1000 }).reconcileMaxCalls).toBe(1000);
    expect(() => parseConfig({ dataCenter: 'us', reconcileIntervalMinutes: 1441 })).toThrow(
      'cronofy.reconcileIntervalMinutes: must be a whole number from 0 to 1440',
    );
    expect(() => parseConfig({ dataCenter: 'us', reconcileIntervalMinutes: 2.5 })).toThrow(
      'cronofy.reconcileIntervalMinutes',
    );
    expect(() => parseConfig({ dataCenter: 'us', reconcileMaxCalls: 0 })).toThrow(
      'cronofy.reconcileMaxCalls: must be a whole number from 1 to 1000',
    );
  });

  it.each([
    [{ dataCenter: 'eu' }, 'cronofy.dataCenter: must be one of us, uk, de, au, ca, sg'],
    [
      { dataCenter: 'us', redirects: { time_chosen: 'http://example.com' } },
      'cronofy.redirects.time_chosen: must be an absolute https:// URL',
    ],
    [
      { dataCenter: 'us', redirects: { time_chosen: 'https://user:pw@example.com' } },
      'cronofy.redirects.time_chosen',
    ],
    [
      { dataCenter: 'us', publicLinks: { interview: 'has space' } },
      'cronofy.publicLinks.interview: must be a Cronofy Public Link slug',
    ],
    [
      { dataCenter: 'us', workerMaxConcurrency: 1 },
      'cronofy.workerMaxConcurrency: must be a whole number from 2 to 1000',
    ],
    [{ dataCenter: 'us', dataCentre: 'uk' }, 'cronofy: unknown key(s) dataCentre'],
    [{}, 'cronofy.dataCenter'],
  ])('rejects %j naming the key', (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(message);
  });

  it('maps data centers to Cronofy app hosts', () => {
    expect(appHost('us')).toBe('app.cronofy.com');
    expect(appHost('uk')).toBe('app-uk.cronofy.com');
    expect(appHost('sg')).toBe('app-sg.cronofy.com');
  });
});

/** The redirect function's configuration, as infra/stack.ts puts it in CRONOFY_PUBLIC_CONFIG. */
const parse = (text: string | undefined) => publicConfigFromEnv({ CRONOFY_PUBLIC_CONFIG: text });

describe('publicConfigFromEnv', () => {
  const valid = {
    dataCenter: 'uk',
    redirects: { time_chosen: 'https://ats.example.com/chosen' },
    publicLinks: { 'onsite-interview': 'Q5-ZDPM8' },
  };

  it('parses the JSON the stack puts in CRONOFY_PUBLIC_CONFIG', () => {
    expect(parse(JSON.stringify(valid))).toEqual(valid);
    expect(parse('{"dataCenter":"us"}')).toEqual({
      dataCenter: 'us',
      redirects: {},
      publicLinks: {},
    });
  });

  it('fails fast naming the variable and the key', () => {
    expect(() => parse(undefined)).toThrow(new ConfigError('CRONOFY_PUBLIC_CONFIG is not set'));
    expect(() => parse('{')).toThrow('CRONOFY_PUBLIC_CONFIG is not valid JSON');
    expect(() =>
      parse(JSON.stringify({ ...valid, redirects: { time_chosen: 'http://ats.example.com/' } })),
    ).toThrow(/CRONOFY_PUBLIC_CONFIG\.redirects\.time_chosen: must be an absolute https:\/\/ URL/);
    expect(() => parse(JSON.stringify({ ...valid, dataCenter: 'eu' }))).toThrow(
      /CRONOFY_PUBLIC_CONFIG\.dataCenter/,
    );
    expect(() => parse(JSON.stringify({ ...valid, publicLinks: { x: 'bad slug/..' } }))).toThrow(
      /CRONOFY_PUBLIC_CONFIG\.publicLinks\.x/,
    );
  });
});

describe('publicConfigFromEnv messages', () => {
  it('says what was expected where zod/mini has no message', () => {
    expect(() => parse('{"dataCenter":"us","redirects":[]}')).toThrow(
      /CRONOFY_PUBLIC_CONFIG\.redirects: expected record/,
    );
    expect(() => parse('{"dataCenter":"us","local":{}}')).toThrow(
      /CRONOFY_PUBLIC_CONFIG: unknown key\(s\); allowed: dataCenter, redirects, publicLinks/,
    );
  });
});
