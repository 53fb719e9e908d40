import { describe, expect, it } from 'vitest';
import { secretsManagerFromEnv } from '#shared/aws/secrets.ts';
import { ENV, requiredEnv, secretFromEnv, wholeNumberEnv } from '#shared/contract/env.ts';
import { rateLimitFromEnv } from '#shared/cronofy/from-env.ts';

/** A missing or bad environment value fails at cold start, naming the variable; nothing falls back silently. */
describe('environment contract readers', () => {
  it('requiredEnv names a missing or empty variable', () => {
    expect(requiredEnv({ TABLE_NAME: 't' }, ENV.tableName)).toBe('t');
    expect(() => requiredEnv({}, ENV.tableName)).toThrow('TABLE_NAME is not set');
    expect(() => requiredEnv({ QUEUE_URL: '' }, ENV.queueUrl)).toThrow('QUEUE_URL is not set');
  });

  it('wholeNumberEnv names a missing, fractional or too small value', () => {
    expect(wholeNumberEnv({ RECONCILE_MAX_CALLS: '7' }, ENV.reconcileMaxCalls, 1, 'must be ≥ 1')).toBe(7);
    for (const value of [undefined, '', '1.5', '0', 'x'])
      expect(() =>
        wholeNumberEnv({ RECONCILE_MAX_CALLS: value }, ENV.reconcileMaxCalls, 1, 'must be ≥ 1'),
      ).toThrow('RECONCILE_MAX_CALLS must be ≥ 1');
  });

  it('the secrets cache time and the Cronofy rate share have no silent default', () => {
    expect(() => secretsManagerFromEnv({ SECRET_ARN: 'arn' })).toThrow('SECRETS_CACHE_SECONDS');
    expect(() => secretFromEnv({ SECRETS_CACHE_SECONDS: '300' })).toThrow('SECRET_ARN is not set');
    expect(() => secretFromEnv({ SECRET_ARN: 'arn', SECRETS_CACHE_SECONDS: '-1' })).toThrow(
      'SECRETS_CACHE_SECONDS must be a whole number of seconds',
    );
    expect(secretFromEnv({ SECRET_ARN: 'arn', SECRETS_CACHE_SECONDS: '0' })).toEqual({
      secretArn: 'arn',
      cacheSeconds: 0,
    });
    expect(() => rateLimitFromEnv({ CRONOFY_RATE_PER_SECOND: '5' })).toThrow('CRONOFY_RATE_PER_MINUTE');
    expect(rateLimitFromEnv({ CRONOFY_RATE_PER_SECOND: '5', CRONOFY_RATE_PER_MINUTE: '50' })).toEqual({
      perSecond: 5,
      perMinute: 50,
    });
  });
});
