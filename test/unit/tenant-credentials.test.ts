import { beforeEach, describe, expect, it } from 'vitest';
import { KmsCipher, LocalAesCipher } from '#shared/aws/kms-cipher.ts';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { tenantDirectory } from '#shared/aws/tenant-directory.ts';
import { TenantUnavailableError, UnknownTenantError, UpstreamUnavailableError } from '#shared/core/errors.ts';
import type { CredentialProvider } from '#shared/core/ports.ts';
import { OAuthGrantRejectedError, type OAuthTokens, OAuthUnavailableError } from '#shared/cronofy/oauth.ts';
import { makeCronofyOAuth } from '#shared/cronofy/oauth-client.ts';
import {
  LEASE_MS,
  RECHECK_MS,
  REFRESH_MARGIN_MS,
  tenantCredentialProvider,
} from '#shared/tenants/credentials.ts';
import { capturingLogger } from '../support/capturing-logger.ts';
import { MemoryTenantStore } from '../support/memory-tenant-store.ts';

/**
 * The refresh policy of tenants' Organization Connect tokens, with an in-memory store and a fake token endpoint:
 * when a refresh happens (expiry margin, a 401), one at a time, what a refused refresh and an outage do, and
 * the single-tenant path untouched. Then the ciphers, the directory cache and the token endpoint's adapter.
 */

const T0 = Date.parse('2026-03-01T10:00:00Z');
let now: number;
let store: MemoryTenantStore;
let log: ReturnType<typeof capturingLogger>;
let refreshes: string[];
let answer: () => Promise<OAuthTokens>;
let disconnected: string[];

const fallback: CredentialProvider = { get: async () => 'single_tenant_credential' };

function provider(overrides: Partial<Parameters<typeof tenantCredentialProvider>[0]> = {}) {
  return tenantCredentialProvider({
    fallback,
    store,
    oauth: {
      refresh: async (token) => {
        refreshes.push(token);
        return answer();
      },
    },
    clock: () => new Date(now),
    logger: log.logger,
    onDisconnected: (id) => disconnected.push(id),
    sleep: async (ms) => {
      now += ms;
    },
    ...overrides,
  });
}

/**
 * A provider whose refresh sees `meanwhile` happen before Cronofy answers it (`at_late`, `rt_late`, and `sub` when
 * given).
 */
function refreshDuring(meanwhile: () => Promise<unknown>, sub?: string) {
  const revokedTokens: string[] = [];
  const p = provider({
    oauth: {
      refresh: async (token) => {
        refreshes.push(token);
        await meanwhile();
        return {
          accessToken: 'at_late',
          refreshToken: 'rt_late',
          expiresIn: 3600,
          ...(sub === undefined ? {} : { sub }),
        };
      },
      revoke: async (token) => void revokedTokens.push(token),
    },
  });
  return { p, revokedTokens };
}

async function connected(id = 'acme', expiresIn = 3_600_000, sub?: string) {
  await store.putTenant(id, { name: id }, new Date(now).toISOString());
  await store.connect(
    id,
    { accessToken: 'at_1', refreshToken: 'rt_1', expiresAt: now + expiresIn, ...(sub ? { sub } : {}) },
    new Date(now).toISOString(),
  );
}

beforeEach(() => {
  now = T0;
  store = new MemoryTenantStore();
  log = capturingLogger();
  refreshes = [];
  disconnected = [];
  let n = 1;
  answer = async () => {
    n++;
    return { accessToken: `at_${n}`, refreshToken: `rt_${n}`, expiresIn: 3600 };
  };
});

describe('tenantCredentialProvider', () => {
  it('gives calls without a tenant the single-tenant credential, touching no tenant state', async () => {
    expect(await provider().get()).toBe('single_tenant_credential');
    expect(store.calls).toEqual([]);
  });

  it('answers UnknownTenantError, tenant_not_connected and tenant_disconnected', async () => {
    const p = provider();
    await expect(p.get('nobody')).rejects.toBeInstanceOf(UnknownTenantError);
    await store.putTenant('fresh', { name: 'Fresh' }, new Date(now).toISOString());
    await expect(p.get('fresh')).rejects.toMatchObject({ code: 'tenant_not_connected' });
    await connected('gone');
    await store.offboard('gone', new Date(now).toISOString());
    await expect(p.get('gone')).rejects.toMatchObject({ code: 'tenant_disconnected' });
  });

  it('uses a valid token as it is, from the store once and then from memory', async () => {
    await connected();
    const p = provider();
    expect(await p.get('acme')).toBe('at_1');
    expect(await p.get('acme')).toBe('at_1');
    expect(refreshes).toEqual([]);
    expect(store.calls.filter((c) => c === 'getCredential')).toHaveLength(1);
  });

  it('checks a token from memory against the store every RECHECK_MS (nothing decrypted), so an offboarding reaches it', async () => {
    await connected();
    const p = provider();
    expect(await p.get('acme')).toBe('at_1');
    now += RECHECK_MS;
    expect(await p.get('acme')).toBe('at_1');
    expect(store.calls.filter((c) => c === 'credentialGeneration')).toHaveLength(1);
    expect(store.calls.filter((c) => c === 'getCredential')).toHaveLength(1);
    await store.offboard('acme', new Date(now).toISOString());
    expect(await p.get('acme')).toBe('at_1');
    now += RECHECK_MS;
    await expect(p.get('acme')).rejects.toMatchObject({ code: 'tenant_disconnected' });
  });

  it('refreshes a token within the margin of its expiry, and the returned refresh token replaces the old', async () => {
    await connected('acme', REFRESH_MARGIN_MS - 1);
    const refreshed: string[] = [];
    const p = provider({ onRefreshed: (id) => refreshed.push(id) });
    expect(await p.get('acme')).toBe('at_2');
    expect(refreshes).toEqual(['rt_1']);
    // Counted once per refresh made (metric TokenRefreshes); a token still fresh is not.
    expect(await p.get('acme')).toBe('at_2');
    expect(refreshed).toEqual(['acme']);
    expect(await store.getCredential('acme')).toMatchObject({ accessToken: 'at_2', refreshToken: 'rt_2' });
    // The next refresh uses the new refresh token.
    now += 3_600_000;
    expect(await p.get('acme')).toBe('at_3');
    expect(refreshes).toEqual(['rt_1', 'rt_2']);
  });

  it('keeps the refresh token it has when Cronofy returns none', async () => {
    await connected('acme', 0);
    answer = async () => ({ accessToken: 'at_new', expiresIn: 3600 });
    expect(await provider().get('acme')).toBe('at_new');
    expect((await store.getCredential('acme'))?.refreshToken).toBe('rt_1');
  });

  it('refreshes after a 401 (invalidate) even before expiry; another function that already refreshed wins', async () => {
    await connected();
    const first = provider();
    const second = provider();
    expect(await first.get('acme')).toBe('at_1');
    expect(await second.get('acme')).toBe('at_1');
    first.invalidate?.('acme');
    expect(await first.get('acme')).toBe('at_2');
    // The second function meets the same 401: the generation moved on, so it takes the new token, no refresh.
    second.invalidate?.('acme');
    expect(await second.get('acme')).toBe('at_2');
    expect(refreshes).toEqual(['rt_1']);
  });

  it('shares one refresh among concurrent callers of one function', async () => {
    await connected('acme', 0);
    const p = provider();
    const tokens = await Promise.all(Array.from({ length: 10 }, () => p.get('acme')));
    expect(new Set(tokens)).toEqual(new Set(['at_2']));
    expect(refreshes).toHaveLength(1);
  });

  it("waits for another function's refresh (its lease) and uses its result, without refreshing", async () => {
    await connected('acme', 0);
    const credential = store.credentials.get('acme');
    if (!credential) throw new Error('no credential');
    credential.leaseToken = 'other';
    credential.leaseUntil = now + LEASE_MS;
    let slept = 0;
    const p = provider({
      sleep: async (ms) => {
        now += ms;
        // The other function finishes during our second wait.
        if (++slept === 2)
          await store.saveRefreshed('acme', credential.generation, {
            accessToken: 'at_other',
            refreshToken: 'rt_other',
            expiresAt: now + 3_600_000,
          });
      },
    });
    expect(await p.get('acme')).toBe('at_other');
    expect(refreshes).toEqual([]);
  });

  it('takes over the lease of a refresher that crashed (its lease ran out)', async () => {
    await connected('acme', 0);
    const credential = store.credentials.get('acme');
    if (!credential) throw new Error('no credential');
    credential.leaseToken = 'crashed';
    credential.leaseUntil = now + LEASE_MS;
    expect(await provider().get('acme')).toBe('at_2');
    expect(refreshes).toHaveLength(1);
  });

  /**
   * Cronofy as the contract allows it: a refresh token works once and the answer carries its successor. A refresher
   * slower than its lease (Cronofy answered, then KMS or DynamoDB stalled) is overtaken by a second one, whose
   * refresh with the now-used token is refused.
   */
  function rotatingCronofy() {
    const valid = new Set(['rt_1']);
    let n = 1;
    return async (token: string): Promise<OAuthTokens> => {
      refreshes.push(token);
      if (!valid.delete(token)) throw new OAuthGrantRejectedError(400);
      n++;
      valid.add(`rt_${n}`);
      return { accessToken: `at_${n}`, refreshToken: `rt_${n}`, expiresIn: 3600 };
    };
  }

  it('keeps the rotated refresh token of a refresher slower than its lease: the one that took over does not disconnect', async () => {
    await connected('acme', 0);
    const cronofy = rotatingCronofy();
    const second = provider({ oauth: { refresh: cronofy } });
    let overtaken: Promise<unknown> = Promise.resolve();
    const first = provider({
      oauth: {
        refresh: async (token) => {
          const tokens = await cronofy(token);
          // Cronofy has answered; before this refresher saves, its lease runs out and another function refreshes.
          now += LEASE_MS + 1;
          overtaken = second.get('acme').then(
            (value) => ({ value }),
            (error: unknown) => ({ error }),
          );
          await overtaken;
          return tokens;
        },
      },
    });
    expect(await first.get('acme')).toBe('at_2');
    // The overtaking refresher was refused (rt_1 was used): it answers unavailable instead of disconnecting.
    expect(await overtaken).toMatchObject({ error: expect.any(UpstreamUnavailableError) });
    expect(refreshes).toEqual(['rt_1', 'rt_1']);
    expect(store.tenants.get('acme')?.status).toBe('connected');
    expect(disconnected).toEqual([]);
    expect((await store.getCredential('acme'))?.refreshToken).toBe('rt_2');
    // And the kept token refreshes again.
    now += 3_600_000;
    expect(await provider({ oauth: { refresh: cronofy } }).get('acme')).toBe('at_3');
    expect(store.tenants.get('acme')?.status).toBe('connected');
  });

  it('gives back the tokens of a refresh whose credential was removed meanwhile (offboarded): no live authorization is left', async () => {
    await connected('acme', 0);
    const { p, revokedTokens } = refreshDuring(() => store.offboard('acme', new Date(now).toISOString()));
    await expect(p.get('acme')).rejects.toMatchObject({ code: 'tenant_disconnected' });
    expect(revokedTokens).toEqual(['rt_late']);
  });

  /**
   * A refresh of acme (of OU `subs.old`) during which a new consent (`at_new`, `refreshToken`, of OU `subs.new`)
   * replaces the credential; Cronofy's late answer carries `subs.answer`.
   */
  async function reconnectedDuringRefresh(
    refreshToken: string,
    subs: { old?: string; new?: string; answer?: string } = { old: 'ou_old', new: 'ou_new' },
  ) {
    await connected('acme', 0, subs.old);
    return refreshDuring(async () => {
      now += 1_000;
      await store.connect(
        'acme',
        {
          accessToken: 'at_new',
          refreshToken,
          expiresAt: now + 3_600_000,
          ...(subs.new ? { sub: subs.new } : {}),
        },
        new Date(now).toISOString(),
      );
    }, subs.answer);
  }
  const kept = () => log.lines.filter((line) => line.includes('may be the same authorization'));

  it('gives back the tokens of a refresh whose credential a new connection of another OU replaced meanwhile (onboarded again)', async () => {
    const { p, revokedTokens } = await reconnectedDuringRefresh('rt_new');
    // The caller gets the new connection's token; the old one's late refresh is given back.
    expect(await p.get('acme')).toBe('at_new');
    expect(revokedTokens).toEqual(['rt_late']);
    expect(kept()).toEqual([]);
  });

  it.each([
    ['the same OU', { old: 'ou_same', new: 'ou_same' }],
    ['the same OU, by the late answer', { old: 'ou_old', new: 'ou_same', answer: 'ou_same' }],
    ['an unknown OU (the new consent)', { old: 'ou_old' }],
    ['an unknown OU (the replaced credential)', { new: 'ou_new' }],
  ])(
    'keeps the tokens of a refresh a new connection of %s overtook: it may be one authorization',
    async (_, subs) => {
      const { p, revokedTokens } = await reconnectedDuringRefresh('rt_new', subs);
      expect(await p.get('acme')).toBe('at_new');
      expect(revokedTokens).toEqual([]);
      expect(kept()).toHaveLength(1);
      expect(kept()[0]).toContain('acme');
      for (const line of log.lines) expect(line).not.toMatch(/rt_late|at_late|rt_new|at_new/);
    },
  );

  it("a refresh keeps the credential's OU id, or takes the one Cronofy's answer carries", async () => {
    await connected('acme', 0, 'ou_1');
    await provider().get('acme');
    expect((await store.getCredential('acme'))?.sub).toBe('ou_1');
    now += 3_600_000;
    answer = async () => ({ accessToken: 'at_x', refreshToken: 'rt_x', expiresIn: 3600, sub: 'ou_2' });
    expect(await provider().get('acme')).toBe('at_x');
    expect((await store.getCredential('acme'))?.sub).toBe('ou_2');
  });

  it('never revokes the refresh token of the connection that replaced it, when Cronofy answered the late refresh with that very token', async () => {
    // Cronofy may answer a new consent of the same OU with the refresh token it already issued (the callback
    // refuses to revoke one equal to the new token for that reason): the late refresh's answer is then the
    // live connection's own token, and revoking it would end the tenant's only authorization.
    const { p, revokedTokens } = await reconnectedDuringRefresh('rt_late');
    expect(await p.get('acme')).toBe('at_new');
    expect(revokedTokens).toEqual([]);
  });

  it('a refresh that read the replaced connection cannot take the lease of, nor disconnect, a connection stored in the same millisecond', async () => {
    // A connection's generation comes from the clock: one stored within the millisecond of the one it replaces
    // (or by a function whose clock lags) must still not pass for it, or a refresher that read the old
    // credential leases the new one, has the revoked refresh token refused, and forgets the live credential.
    await connected('acme', 0);
    const previous = await store.getCredential('acme');
    const take = store.takeRefreshLease.bind(store);
    store.takeRefreshLease = async (...args) => {
      // Onboarded again between the refresher's read and its lease, at the same clock reading.
      await store.connect(
        'acme',
        { accessToken: 'at_new', refreshToken: 'rt_new', expiresAt: now + 3_600_000 },
        new Date(now).toISOString(),
        { expected: { generation: previous?.generation } },
      );
      store.takeRefreshLease = take;
      return take(...args);
    };
    answer = async () => {
      throw new OAuthGrantRejectedError(400);
    };
    expect(await provider().get('acme')).toBe('at_new');
    expect(refreshes).toEqual([]);
    expect(store.tenants.get('acme')?.status).toBe('connected');
    expect(disconnected).toEqual([]);
  });

  it('a refused takeover whose credential a new connection replaced meanwhile uses the new one (no 503)', async () => {
    await connected('acme', 0);
    // A refresher crashed holding the lease: the next one takes it over, and meanwhile the tenant is onboarded
    // again (the callback revokes the old authorization, so Cronofy refuses the takeover's refresh).
    const stale = store.credentials.get('acme');
    if (stale) Object.assign(stale, { leaseToken: 'crashed', leaseUntil: now - 1 });
    const p = provider({
      oauth: {
        refresh: async (token) => {
          refreshes.push(token);
          now += 1_000;
          await store.connect(
            'acme',
            { accessToken: 'at_new', refreshToken: 'rt_new', expiresAt: now + 3_600_000 },
            new Date(now).toISOString(),
          );
          throw new OAuthGrantRejectedError(400);
        },
      },
    });
    expect(await p.get('acme')).toBe('at_new');
    expect(store.tenants.get('acme')?.status).toBe('connected');
  });

  it('keeps the tokens of a refresh another refresher of the same connection overtook (same authorization)', async () => {
    await connected('acme', 0);
    const { p, revokedTokens } = refreshDuring(async () => {
      const credential = await store.getCredential('acme');
      await store.saveRefreshed('acme', credential?.generation ?? 0, {
        accessToken: 'at_other',
        refreshToken: 'rt_other',
        expiresAt: now + 3_600_000,
      });
    });
    expect(await p.get('acme')).toBe('at_other');
    expect(revokedTokens).toEqual([]);
  });

  it('keeps a refresh Cronofy answered through a failed save (the table or the key briefly unavailable): never disconnects for it', async () => {
    await connected('acme', 0);
    const save = store.saveRefreshed.bind(store);
    let failures = 2;
    store.saveRefreshed = async (...args) => {
      if (failures-- > 0) throw new Error('ProvisionedThroughputExceededException');
      return save(...args);
    };
    // Cronofy rotated the refresh token: losing its answer would leave only a refresh token it refuses.
    expect(await provider().get('acme')).toBe('at_2');
    expect((await store.getCredential('acme'))?.refreshToken).toBe('rt_2');
    expect(refreshes).toEqual(['rt_1']);
    expect(store.tenants.get('acme')?.status).toBe('connected');
  });

  it('disconnects after a refused takeover once the refresher it overtook had a further lease to save and did not', async () => {
    await connected('acme', 0);
    answer = async () => {
      throw new OAuthGrantRejectedError(400);
    };
    const credential = store.credentials.get('acme');
    if (!credential) throw new Error('no credential');
    credential.leaseToken = 'crashed';
    credential.leaseUntil = now - 1;
    await expect(provider().get('acme')).rejects.toBeInstanceOf(UpstreamUnavailableError);
    expect(store.tenants.get('acme')?.status).toBe('connected');
    // Nobody saved: the next refresher after that lease is refused too, and that settles it.
    now += LEASE_MS + 1;
    await expect(provider().get('acme')).rejects.toMatchObject({ code: 'tenant_disconnected' });
    expect(store.tenants.get('acme')?.status).toBe('disconnected');
    expect(disconnected).toEqual(['acme']);
    expect(refreshes).toHaveLength(2);
  });

  it('disconnects the tenant when Cronofy refuses the refresh (invalid_grant): counted once, no secret logged', async () => {
    await connected('acme', 0);
    answer = async () => {
      throw new OAuthGrantRejectedError(400);
    };
    const p = provider();
    await expect(p.get('acme')).rejects.toMatchObject({ code: 'tenant_disconnected' });
    expect(store.tenants.get('acme')?.status).toBe('disconnected');
    expect(await store.getCredential('acme')).toBeUndefined();
    expect(disconnected).toEqual(['acme']);
    // Later calls answer disconnected at once: no refresh is tried again.
    await expect(p.get('acme')).rejects.toBeInstanceOf(TenantUnavailableError);
    expect(refreshes).toHaveLength(1);
    for (const line of log.lines) expect(line).not.toMatch(/at_1|rt_1/);
  });

  it('never disconnects for an outage: the call is unavailable, the lease is freed, the next call refreshes', async () => {
    await connected('acme', 0);
    answer = async () => {
      throw new OAuthUnavailableError('status 503');
    };
    const p = provider();
    await expect(p.get('acme')).rejects.toBeInstanceOf(UpstreamUnavailableError);
    expect(store.tenants.get('acme')?.status).toBe('connected');
    expect(store.credentials.get('acme')?.leaseUntil).toBeUndefined();
    expect(disconnected).toEqual([]);
    answer = async () => ({ accessToken: 'at_back', refreshToken: 'rt_back', expiresIn: 3600 });
    expect(await p.get('acme')).toBe('at_back');
  });

  it('gives up waiting for a lease that is never released (unavailable, not disconnected)', async () => {
    await connected('acme', 0);
    const credential = store.credentials.get('acme');
    if (!credential) throw new Error('no credential');
    credential.leaseToken = 'slow';
    credential.leaseUntil = now + 10 * LEASE_MS;
    await expect(provider().get('acme')).rejects.toBeInstanceOf(UpstreamUnavailableError);
    expect(refreshes).toEqual([]);
  });
});

describe('ciphers', () => {
  const context = { tenant_id: 'acme', field: 'access_token' } as const;

  it('AES-GCM: decrypts with the same key, tenant and field only', async () => {
    const key = Buffer.alloc(32, 1);
    const cipher = new LocalAesCipher(key);
    const sealed = await cipher.encrypt('at_secret', context);
    expect(sealed).not.toContain('at_secret');
    expect(await cipher.decrypt(sealed, context)).toBe('at_secret');
    await expect(cipher.decrypt(sealed, { ...context, tenant_id: 'globex' })).rejects.toThrow(
      /decryption failed/,
    );
    await expect(cipher.decrypt(sealed, { ...context, field: 'refresh_token' })).rejects.toThrow();
    await expect(new LocalAesCipher(Buffer.alloc(32, 2)).decrypt(sealed, context)).rejects.toThrow();
    const [v, iv, tag, body] = sealed.split('.');
    const bytes = Buffer.from(body ?? '', 'base64url');
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    const flipped = `${v}.${iv}.${tag}.${bytes.toString('base64url')}`;
    await expect(cipher.decrypt(flipped, context)).rejects.toThrow();
    // Every encryption is different (a fresh IV).
    expect(await cipher.encrypt('at_secret', context)).not.toBe(sealed);
  });

  it('KMS: sends the key and the tenant/field encryption context on both calls', async () => {
    const calls: { action: string; body: Record<string, unknown> }[] = [];
    const cipher = new KmsCipher(
      {
        call: async (action, body) => {
          calls.push({ action, body });
          return action === 'Encrypt'
            ? { CiphertextBlob: 'Y2lwaGVy' }
            : { Plaintext: Buffer.from('at_secret').toString('base64') };
        },
      },
      'arn:aws:kms:eu-west-1:123456789012:key/abc',
    );
    expect(await cipher.encrypt('at_secret', context)).toBe('Y2lwaGVy');
    expect(await cipher.decrypt('Y2lwaGVy', context)).toBe('at_secret');
    for (const call of calls) {
      expect(call.body.KeyId).toBe('arn:aws:kms:eu-west-1:123456789012:key/abc');
      expect(call.body.EncryptionContext).toEqual({ tenant_id: 'acme', field: 'access_token' });
    }
    expect(calls[0]?.body.Plaintext).toBe(Buffer.from('at_secret').toString('base64'));
  });
});

describe('tenantDirectory', () => {
  it('keeps client secrets (and unknown tenants) for the cache time, then reads again', async () => {
    let t = 0;
    let reads = 0;
    const secrets = new Map([['acme', ['CRN_a']]]);
    const directory = tenantDirectory(
      {
        tenantClientSecrets: async (id) => {
          reads++;
          return secrets.get(id);
        },
      },
      { cacheMs: 1000, now: () => t },
    );
    expect(await directory.clientSecrets('acme')).toEqual(['CRN_a']);
    expect(await directory.clientSecrets('nobody')).toBeUndefined();
    secrets.set('acme', ['CRN_b']);
    expect(await directory.clientSecrets('acme')).toEqual(['CRN_a']);
    expect(await directory.clientSecrets('nobody')).toBeUndefined();
    expect(reads).toBe(2);
    t = 1001;
    expect(await directory.clientSecrets('acme')).toEqual(['CRN_b']);
    expect(reads).toBe(3);
  });
});

describe('tenantDirectory: a tenant registered after a probe', () => {
  it('keeps an unknown tenant for a shorter time, so one registered after a probe of its URL is heard soon', async () => {
    let t = 0;
    const secrets = new Map<string, string[]>();
    const directory = tenantDirectory(
      { tenantClientSecrets: async (id) => secrets.get(id) },
      { cacheMs: 300_000, unknownCacheMs: 30_000, now: () => t },
    );
    expect(await directory.clientSecrets('late')).toBeUndefined();
    secrets.set('late', ['CRN_late']);
    t = 29_999;
    expect(await directory.clientSecrets('late')).toBeUndefined();
    t = 30_001;
    expect(await directory.clientSecrets('late')).toEqual(['CRN_late']);
  });
});

describe('makeCronofyOAuth', () => {
  const secrets = new StaticSecrets({
    clientSecrets: ['CRN_app'],
    embedPublicKey: 'EMB',
    embedSecret: 'ESK',
  });
  function client(respond: (body: Record<string, string>) => Response | Promise<Response>) {
    const bodies: Record<string, string>[] = [];
    const oauth = makeCronofyOAuth({
      baseUrl: 'https://api.cronofy.test',
      clientId: 'cid',
      secrets,
      sleep: async () => {},
      fetch: async (url, init) => {
        expect(String(url)).toMatch(/^https:\/\/api\.cronofy\.test\/oauth\/token(\/revoke)?$/);
        const body = JSON.parse(String(init?.body));
        bodies.push(body);
        return respond(body);
      },
    });
    return { oauth, bodies };
  }
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });

  it('exchanges a code with the client id, the first client secret and the redirect_uri', async () => {
    const { oauth, bodies } = client(() =>
      json(200, {
        token_type: 'bearer',
        access_token: 'a',
        refresh_token: 'r',
        expires_in: 3600,
        scope: 'x',
        sub: 'ou_1',
      }),
    );
    expect(await oauth.exchangeCode('c', 'https://cb')).toEqual({
      accessToken: 'a',
      refreshToken: 'r',
      expiresIn: 3600,
      sub: 'ou_1',
    });
    expect(bodies[0]).toEqual({
      client_id: 'cid',
      client_secret: 'CRN_app',
      grant_type: 'authorization_code',
      code: 'c',
      redirect_uri: 'https://cb',
    });
  });

  it.each([
    ['absent', {}],
    ['a number', { sub: 42 }],
    ['an object', { sub: { id: 'ou_1' } }],
    ['null', { sub: null }],
    ['empty', { sub: '' }],
    ['over 256 characters', { sub: 'o'.repeat(257) }],
  ])('accepts a token answer whose sub is %s, without an OU id', async (_, extra) => {
    const { oauth } = client(() => json(200, { access_token: 'a', expires_in: 60, ...extra }));
    expect(await oauth.refresh('r')).toEqual({ accessToken: 'a', expiresIn: 60 });
  });

  it.each([
    [400, { error: 'invalid_grant' }, OAuthGrantRejectedError],
    [400, 'not json', OAuthGrantRejectedError],
    [400, { error: 'invalid_client' }, OAuthUnavailableError],
    // The application's own request or registration is at fault, not this tenant's grant: never a disconnect.
    [400, { error: 'unauthorized_client' }, OAuthUnavailableError],
    [400, { error: 'invalid_request' }, OAuthUnavailableError],
    [400, { error: 'unsupported_grant_type' }, OAuthUnavailableError],
    [400, { error: 'invalid_scope' }, OAuthUnavailableError],
    [401, {}, OAuthUnavailableError],
    [500, {}, OAuthUnavailableError],
    [429, {}, OAuthUnavailableError],
    [200, { access_token: 'a' }, OAuthUnavailableError],
  ])('maps a refresh answered %i %j to %o', async (status, body, type) => {
    const { oauth } = client(() =>
      typeof body === 'string' ? new Response(body, { status }) : json(status, body),
    );
    await expect(oauth.refresh('r')).rejects.toBeInstanceOf(type);
  });

  it('treats a network failure as unavailable', async () => {
    const oauth = makeCronofyOAuth({
      baseUrl: 'https://api.cronofy.test',
      clientId: 'cid',
      secrets,
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
    });
    await expect(oauth.refresh('r')).rejects.toBeInstanceOf(OAuthUnavailableError);
  });

  it('retries a revoke on 5xx, then reports it; a token Cronofy no longer knows (400) counts as revoked', async () => {
    const failing = client(() => json(503, {}));
    await expect(failing.oauth.revoke('r')).rejects.toBeInstanceOf(OAuthUnavailableError);
    expect(failing.bodies).toHaveLength(3);
    const unknown = client(() => json(400, { error: 'invalid_grant' }));
    await expect(unknown.oauth.revoke('r')).resolves.toBeUndefined();
    const refused = client(() => json(401, {}));
    await expect(refused.oauth.revoke('r')).rejects.toBeInstanceOf(OAuthUnavailableError);
    expect(refused.bodies).toHaveLength(1);
  });
});
