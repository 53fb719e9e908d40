import { describe, expect, it } from 'vitest';
import { mayRevoke } from '#shared/tenants/revocation.ts';

/**
 * The one rule for revoking another authorization than the tenant's live one: Cronofy's Organization Connect is
 * one authorization per OU, so two consents of one OU may share it.
 */
describe('mayRevoke', () => {
  const live = { refreshToken: 'rt_live', sub: 'ou_a' };

  it('revokes when the tenant holds no other live credential, whatever is known of the OU', () => {
    expect(mayRevoke({ token: 'rt_old' }, 'none')).toBe(true);
    expect(mayRevoke({ token: 'rt_old', sub: 'ou_a' }, 'none')).toBe(true);
  });

  it('revokes while the tenant holds a credential only when both OU ids are known and differ', () => {
    expect(mayRevoke({ token: 'rt_old', sub: 'ou_b' }, live)).toBe(true);
    expect(mayRevoke({ token: 'rt_old', sub: 'ou_a' }, live)).toBe(false);
    expect(mayRevoke({ token: 'rt_old' }, live)).toBe(false);
    expect(mayRevoke({ token: 'rt_old', sub: 'ou_b' }, { refreshToken: 'rt_live' })).toBe(false);
    expect(mayRevoke({ token: 'rt_old', sub: undefined }, { refreshToken: 'rt_live' })).toBe(false);
  });

  it("never revokes the live credential's own refresh token, nor when the live credential could not be read", () => {
    expect(mayRevoke({ token: 'rt_live', sub: 'ou_b' }, live)).toBe(false);
    expect(mayRevoke({ token: 'rt_old', sub: 'ou_b' }, 'unknown')).toBe(false);
  });
});
