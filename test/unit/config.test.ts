import { describe, expect, it } from 'vitest';
import { appHost, ConfigError, parseConfig } from '#shared/core/config.ts';

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
    });
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
