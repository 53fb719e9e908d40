import { randomUUID } from 'node:crypto';
import { TenantUnavailableError, UnknownTenantError, UpstreamUnavailableError } from '../core/errors.ts';
import type { Clock, CredentialProvider, Logger, TenantCredential, TenantStore } from '../core/ports.ts';
import { type CronofyOAuth, OAuthGrantRejectedError, type OAuthTokens } from '../cronofy/oauth.ts';
import { logKept, mayRevoke } from './revocation.ts';

/**
 * The CredentialProvider of a multi-tenant deployment: no tenant → the single-tenant provider (the secret's
 * `api_credential`), exactly as before; a tenant → its Organization Connect access token.
 *
 * Refresh policy (STYLE "a connection's lifecycle"): a token is used until it is within REFRESH_MARGIN_MS of its
 * expiry or Cronofy answered 401 for it (`invalidate`); then it is refreshed, one refresh at a time per tenant
 * across every function: the refresher takes a lease on the credential item with a conditional write (only for
 * the generation it read, only when no unexpired lease exists); everyone else waits and re-reads until the
 * generation moves on. Within one function, concurrent callers for a tenant share one attempt.
 * - Cronofy refuses the refresh (`invalid_grant`, a 4xx) → the tenant is `disconnected` (credential forgotten),
 *   `onDisconnected` counts it (metric TenantDisconnections, alarmed), and calls answer tenant_disconnected.
 * - Cronofy unreachable, 5xx, timeout → the lease is released and the call fails as unavailable (503): an outage
 *   never disconnects a tenant.
 * - A returned refresh_token replaces the old one; without one the old one is kept.
 */

/** Refresh this long before expiry, so a token never expires on its way to Cronofy. */
export const REFRESH_MARGIN_MS = 5 * 60_000;
/** A refresher holds the lease at most this long (the token call's own timeout is 5 s). */
export const LEASE_MS = 15_000;
/**
 * How long a warm function uses a token from memory before checking (one read, nothing decrypted) that the
 * credential is still the same: an offboarding or a disconnect reaches warm functions within this time, even
 * when Cronofy could not be told.
 */
export const RECHECK_MS = 60_000;
/** Tries at saving a refresh Cronofy answered (well inside LEASE_MS). */
const SAVE_ATTEMPTS = 3;

export interface TenantCredentialDeps {
  /** The single-tenant provider: used for calls without a tenant. */
  fallback: CredentialProvider;
  store: Pick<
    TenantStore,
    | 'getTenant'
    | 'getCredential'
    | 'credentialGeneration'
    | 'takeRefreshLease'
    | 'saveRefreshed'
    | 'deferRefusal'
    | 'releaseRefreshLease'
    | 'disconnect'
  >;
  oauth: Pick<CronofyOAuth, 'refresh'> & Partial<Pick<CronofyOAuth, 'revoke'>>;
  clock: Clock;
  logger: Logger;
  /** Called once per tenant Cronofy disconnected (refused its refresh token). */
  onDisconnected?: (tenantId: string) => void;
  /** Called once per refresh this function made (metric TokenRefreshes). */
  onRefreshed?: (tenantId: string) => void;
  /** How long a caller waits for another function's refresh before giving up (unavailable). */
  waitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  newLeaseToken?: () => string;
}

interface Cached {
  accessToken: string;
  expiresAt: number;
  generation: number;
  /** When the credential item was last seen with this generation. */
  checkedAt: number;
}

export function tenantCredentialProvider(deps: TenantCredentialDeps): CredentialProvider {
  const sleep = deps.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  const waitMs = deps.waitMs ?? LEASE_MS + 5_000;
  const newLeaseToken = deps.newLeaseToken ?? randomUUID;
  const now = () => deps.clock().getTime();
  /** Decrypted tokens of this warm function, per tenant. */
  const cache = new Map<string, Cached>();
  /** The generation Cronofy answered 401 for, per tenant: it needs a refresh whatever its expiry says. */
  const rejected = new Map<string, number>();
  const inFlight = new Map<string, Promise<string>>();

  const usable = (tenantId: string, token: { expiresAt: number; generation: number }) =>
    token.expiresAt - REFRESH_MARGIN_MS > now() && rejected.get(tenantId) !== token.generation;

  /** Why there is no credential: unknown, not connected yet, or disconnected. */
  async function missing(tenantId: string): Promise<never> {
    cache.delete(tenantId);
    const tenant = await deps.store.getTenant(tenantId);
    if (!tenant) throw new UnknownTenantError(tenantId);
    throw new TenantUnavailableError(
      tenantId,
      tenant.status === 'registered' ? 'tenant_not_connected' : 'tenant_disconnected',
    );
  }

  function keep(tenantId: string, credential: TenantCredential): string {
    cache.set(tenantId, {
      accessToken: credential.accessToken,
      expiresAt: credential.expiresAt,
      generation: credential.generation,
      checkedAt: now(),
    });
    return credential.accessToken;
  }

  async function refreshOnce(tenantId: string, credential: TenantCredential): Promise<string | undefined> {
    const leaseToken = newLeaseToken();
    const taken = await deps.store.takeRefreshLease(
      tenantId,
      credential.generation,
      leaseToken,
      now(),
      now() + LEASE_MS,
    );
    if (!taken) return undefined;
    let tokens: Awaited<ReturnType<CronofyOAuth['refresh']>>;
    try {
      tokens = await deps.oauth.refresh(credential.refreshToken);
    } catch (error) {
      if (error instanceof OAuthGrantRejectedError) {
        // An expired lease we took over may belong to a refresher that is slow, not dead: Cronofy may have
        // answered it (using up the refresh token we sent) and it may still save the successor. It gets one more
        // lease to do so; only a refusal after that disconnects.
        if (credential.leaseUntil !== undefined && !credential.refusedOnce) {
          // The lease is no longer ours: the overtaken refresher saved, a new connection replaced the credential
          // (its callback revoked what we sent), or it is gone. Whichever, the credential is read again.
          if (!(await deps.store.deferRefusal(tenantId, leaseToken, now() + LEASE_MS))) return undefined;
          deps.logger.warn(
            'tenant token refresh refused after a lease takeover; waiting for the earlier refresher',
            {
              tenantId,
              status: error.status,
            },
          );
          throw new UpstreamUnavailableError('the tenant token is being refreshed; retry shortly', 2);
        }
        const disconnected = await deps.store.disconnect(tenantId, leaseToken, deps.clock().toISOString());
        if (disconnected) {
          cache.delete(tenantId);
          deps.logger.warn('tenant disconnected: Cronofy refused the refresh', {
            tenantId,
            status: error.status,
          });
          deps.onDisconnected?.(tenantId);
          throw new TenantUnavailableError(tenantId, 'tenant_disconnected');
        }
        // The credential changed meanwhile (a reconnect): read it again.
        return undefined;
      }
      await deps.store.releaseRefreshLease(tenantId, leaseToken).catch(() => undefined);
      deps.logger.warn('tenant token refresh failed; the tenant stays connected', {
        tenantId,
        error: (error as Error).name,
      });
      throw new UpstreamUnavailableError('Cronofy could not be reached to refresh the tenant token', 5);
    }
    // The OU's id the answer carries, else the one the credential has: a refresh stays in its authorization.
    const sub = tokens.sub ?? credential.sub;
    const refreshed = {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken ?? credential.refreshToken,
      expiresAt: now() + tokens.expiresIn * 1000,
      ...(sub === undefined ? {} : { sub }),
    };
    if (!(await saveRefreshed(tenantId, credential.generation, refreshed))) {
      await giveBackOvertaken(tenantId, credential, tokens);
      return undefined;
    }
    rejected.delete(tenantId);
    deps.logger.info('tenant token refreshed', { tenantId });
    deps.onRefreshed?.(tenantId);
    return keep(tenantId, { ...credential, ...refreshed, generation: credential.generation + 1 });
  }

  /**
   * Keep what Cronofy answered, retried when the table or the key fails (not when the condition does): Cronofy has
   * rotated the refresh token, so losing its answer would leave only one it refuses, and the tenant would be
   * disconnected for a DynamoDB or KMS hiccup. A save that failed only on its way back is seen by the retry as a
   * moved generation: the caller then reads the credential it made.
   */
  async function saveRefreshed(
    tenantId: string,
    generation: number,
    tokens: { accessToken: string; refreshToken: string; expiresAt: number },
  ): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await deps.store.saveRefreshed(tenantId, generation, tokens);
      } catch (error) {
        if (attempt === SAVE_ATTEMPTS) throw error;
        deps.logger.warn('tenant token refresh not saved; retrying', {
          tenantId,
          error: (error as Error).name,
        });
        await sleep(100 * 2 ** (attempt - 1));
      }
    }
  }

  /**
   * A refresh of the credential `read` that could not be saved. When the credential is gone (offboarded or
   * disconnected while Cronofy answered), nobody will ever use or revoke these tokens, so they are given back
   * rather than left a live authorization. When another consent replaced it (onboarded again), only if that one
   * is surely another OU's (revocation.ts): the same OU's may share this authorization at Cronofy. Another
   * refresher of the same connection saved first: its tokens and these are one authorization, which must stay.
   */
  async function giveBackOvertaken(tenantId: string, read: TenantCredential, tokens: OAuthTokens) {
    if (!tokens.refreshToken) return;
    const current = await deps.store.getCredential(tenantId);
    if (current !== undefined && current.connectionId === read.connectionId) return;
    if (mayRevoke({ token: tokens.refreshToken, sub: tokens.sub ?? read.sub }, current ?? 'none'))
      await deps.oauth.revoke?.(tokens.refreshToken).catch(() => undefined);
    else
      logKept(deps.logger, tenantId, 'tenant token refresh overtaken by a new connection: its authorization');
  }

  async function obtain(tenantId: string): Promise<string> {
    const cached = cache.get(tenantId);
    if (cached && usable(tenantId, cached)) {
      // Due for a check only: still the same credential → keep using it.
      if ((await deps.store.credentialGeneration(tenantId)) === cached.generation) {
        cached.checkedAt = now();
        return cached.accessToken;
      }
    }
    const deadline = now() + waitMs;
    for (let pause = 50; ; pause = Math.min(pause * 2, 1_000)) {
      const credential = await deps.store.getCredential(tenantId);
      if (!credential) return missing(tenantId);
      if (usable(tenantId, credential)) return keep(tenantId, credential);
      // Someone else may be refreshing: only an expired lease (a crashed refresher) can be taken over.
      if (credential.leaseUntil === undefined || credential.leaseUntil < now()) {
        const token = await refreshOnce(tenantId, credential);
        if (token !== undefined) return token;
      }
      if (now() + pause > deadline)
        throw new UpstreamUnavailableError('the tenant token is being refreshed; retry shortly', 2);
      await sleep(pause);
    }
  }

  return {
    get(tenant) {
      if (tenant === undefined) return deps.fallback.get();
      const cached = cache.get(tenant);
      if (cached && usable(tenant, cached) && now() - cached.checkedAt < RECHECK_MS)
        return Promise.resolve(cached.accessToken);
      let pending = inFlight.get(tenant);
      if (!pending) {
        pending = obtain(tenant).finally(() => inFlight.delete(tenant));
        inFlight.set(tenant, pending);
      }
      return pending;
    },
    invalidate(tenant) {
      if (tenant === undefined) {
        deps.fallback.invalidate?.();
        return;
      }
      const cached = cache.get(tenant);
      if (cached) rejected.set(tenant, cached.generation);
    },
  };
}
