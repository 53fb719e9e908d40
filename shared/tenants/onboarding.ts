import { createHash, randomBytes } from 'node:crypto';
import { InvalidRequestError, NotConfiguredError, UnknownTenantError } from '../core/errors.ts';
import type { OAuthCallbackOutcome, TenantOnboarding } from '../core/outcomes.ts';
import type {
  Clock,
  ConnectConditions,
  Logger,
  SecretsProvider,
  StoredTokens,
  TenantItem,
  TenantStore,
} from '../core/ports.ts';
import { loadSecrets } from '../core/secrets.ts';
import type { CronofyOAuth, OAuthTokens } from '../cronofy/oauth.ts';
import { mintToken } from '../recipients/tokens.ts';
import { parseTenantId } from './registry.ts';
import { type LiveCredential, logKept, mayRevoke } from './revocation.ts';

/**
 * Onboarding a tenant (Cronofy's integration guide, steps 1 and 4): the sign-up URL, whose Embed token links
 * the tenant to an Organizational Unit, and the Organization Connect URL
 * (https://docs.cronofy.com/developers/api/organization-connect/request-authorization/), whose `state` is the
 * only thing that ties Cronofy's callback to a tenant. The state is 256 random bits, handed out once and kept
 * only as its SHA-256 (a leaked table holds no usable state), bound to the tenant, single-use (a conditional
 * delete) and expiring after STATE_TTL_SECONDS.
 */

/** How long a connect URL works: long enough to sign in to Cronofy, at most the 30 minutes the contract allows. */
export const STATE_TTL_SECONDS = 30 * 60;
/** Organization Connect's scope for Scheduler operations only. */
export const OU_SCOPE = 'organizational_unit_scheduler';
/** 32 random bytes, base64url: the only shape of state this service hands out. */
const STATE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface OnboardingDeps {
  store: TenantStore;
  secrets: SecretsProvider;
  clock: Clock;
  logger: Logger;
  /** `cronofy.clientId`; onboarding is not configured without it. */
  clientId?: string;
  /** `https://app.cronofy.com` (the data center's app host), or local mode's fake. */
  appUrl: string;
  /** This deployment's `GET /oauth/cronofy/callback` URL: the redirect_uri. */
  callbackUrl: string;
  newState?: () => string;
}

export interface CallbackDeps {
  store: TenantStore;
  clock: Clock;
  logger: Logger;
  /** Absent without `cronofy.clientId`: then no state can have been handed out either. */
  oauth?: CronofyOAuth;
  callbackUrl: string;
  successUrl?: string;
  errorUrl?: string;
}

export const hashState = (state: string) => createHash('sha256').update(state, 'utf8').digest('hex');
const randomState = () => randomBytes(32).toString('base64url');

export async function startOnboarding(
  request: { tenantId: string | undefined; caller?: string },
  deps: OnboardingDeps,
): Promise<TenantOnboarding> {
  const tenantId = parseTenantId(request.tenantId);
  if (!deps.clientId)
    throw new NotConfiguredError('Organization Connect is not configured: set cronofy.clientId');
  const tenant = await deps.store.getTenant(tenantId);
  if (!tenant) throw new UnknownTenantError(tenantId);
  if (tenant.offboardedAt)
    throw new InvalidRequestError('the tenant was offboarded: register it again (PUT) before onboarding it');
  const secrets = await loadSecrets(deps, 'temporarily unable to start onboarding; retry later');

  const now = deps.clock();
  const expiresAtSeconds = Math.floor(now.getTime() / 1000) + STATE_TTL_SECONDS;
  const state = (deps.newState ?? randomState)();
  await deps.store.putOAuthState(hashState(state), tenantId, expiresAtSeconds, now.getTime());

  const embed = await mintToken(secrets, { kind: 'embed', tenantId, tenantName: tenant.name }, deps.clock);
  const signUp = new URL('/sign_up', deps.appUrl);
  signUp.searchParams.set('style', 'embedded');
  signUp.searchParams.set('embedded_authtoken', embed.token);
  const connect = new URL('/oauth/authorize', deps.appUrl);
  connect.searchParams.set('response_type', 'code');
  connect.searchParams.set('client_id', deps.clientId);
  connect.searchParams.set('redirect_uri', deps.callbackUrl);
  connect.searchParams.set('scope', OU_SCOPE);
  connect.searchParams.set('state', state);
  // Neither the state nor the token is logged: both are bearer values until used.
  deps.logger.info('tenant onboarding started', { tenantId, jti: embed.claims.jti, caller: request.caller });
  return {
    signUpUrl: signUp.toString(),
    connectUrl: connect.toString(),
    expiresAt: new Date(expiresAtSeconds * 1000).toISOString().replace('.000Z', 'Z'),
  };
}

/** `?state=&code=` or `?state=&error=` as Cronofy sends them; anything else is ignored. */
export interface CallbackQuery {
  state?: string;
  code?: string;
  error?: string;
}

/**
 * `GET /oauth/cronofy/callback`. The state decides everything: missing, forged, expired or used → `invalid_state`
 * with no exchange and no redirect. With a valid state: `error=access_denied` → `access_denied`; any other error,
 * no code, or an exchange that fails → `exchange_failed`; else the tokens are kept and the tenant is `connected`.
 */
export async function completeOAuthCallback(
  query: CallbackQuery,
  deps: CallbackDeps,
): Promise<OAuthCallbackOutcome> {
  const state = query.state;
  if (state === undefined || !STATE_PATTERN.test(state)) {
    deps.logger.warn('oauth callback refused: state', {
      reason: state === undefined ? 'missing' : 'malformed',
    });
    return { result: 'invalid_state' };
  }
  const now = deps.clock();
  const taken = await deps.store.takeOAuthState(hashState(state), Math.floor(now.getTime() / 1000));
  if (taken === undefined) {
    deps.logger.warn('oauth callback refused: state', { reason: 'unknown, expired or used' });
    return { result: 'invalid_state' };
  }
  const { tenantId } = taken;
  // Offboarding ends every connect URL handed out before it, also when the tenant was registered again since:
  // whoever still holds one must not bind an Organizational Unit to the new registration. Such a callback is
  // treated as one for an offboarded tenant (below): its code is exchanged and the authorization given back.
  // The store checks it again when it connects: an offboarding may land while the code is being exchanged.
  const tenant = await deps.store.getTenant(tenantId);
  const handedOutBeforeOffboarding = tenant !== undefined && offboardedSince(tenant, taken.issuedAt);
  const finish = (result: 'connected' | 'access_denied' | 'exchange_failed'): OAuthCallbackOutcome => {
    const target = result === 'connected' ? deps.successUrl : deps.errorUrl;
    let location: string | undefined;
    if (target) {
      const url = new URL(target);
      url.searchParams.set('tenant_id', tenantId);
      if (result !== 'connected') url.searchParams.set('error', result);
      location = url.toString();
    }
    deps.logger.info('oauth callback', { tenantId, result });
    return { result, tenantId, ...(location ? { location } : {}) };
  };

  if (query.error !== undefined)
    return finish(query.error === 'access_denied' ? 'access_denied' : 'exchange_failed');
  if (!query.code || query.code.length > 2048 || !deps.oauth) return finish('exchange_failed');
  const oauth = deps.oauth;
  let tokens: OAuthTokens;
  try {
    tokens = await oauth.exchangeCode(query.code, deps.callbackUrl);
  } catch (error) {
    deps.logger.warn('oauth exchange failed', { tenantId, error: (error as Error).name });
    return finish('exchange_failed');
  }
  // From here an authorization exists at Cronofy: whatever keeps it from being stored, it is given back rather
  // than left live with nothing that uses or could revoke it, unless it may be the one the tenant holds
  // (revocation.ts).
  const giveBack = async (why: string) => {
    const token = tokens.refreshToken ?? tokens.accessToken;
    if (!mayRevoke({ token, sub: tokens.sub }, await liveCredential(tenantId, deps))) {
      logKept(deps.logger, tenantId, `oauth callback: ${why}: authorization`);
      return finish('exchange_failed');
    }
    await oauth.revoke(token).catch(() => undefined);
    deps.logger.warn(`oauth callback: ${why}: authorization revoked`, { tenantId });
    return finish('exchange_failed');
  };
  const refreshToken = tokens.refreshToken;
  if (!refreshToken) return giveBack('the exchange answered without a refresh token');
  if (handedOutBeforeOffboarding)
    return giveBack('the tenant was offboarded after the connect URL was handed out');
  const stored: StoredTokens = {
    accessToken: tokens.accessToken,
    refreshToken,
    expiresAt: deps.clock().getTime() + tokens.expiresIn * 1000,
    ...(tokens.sub === undefined ? {} : { sub: tokens.sub }),
  };
  let connected: Awaited<ReturnType<typeof connectReplacing>>;
  try {
    connected = await connectReplacing(tenantId, stored, taken.issuedAt, deps);
  } catch (error) {
    deps.logger.error('oauth callback: tokens not stored', { tenantId, error: (error as Error).name });
    return giveBack('the tokens could not be stored');
  }
  if (connected === 'unknown') {
    // Stored or not, nobody can tell: revoking them could end the tenant's live credential, so they are left (the
    // browser is told it failed; connecting again replaces them, and revokes them if they were stored).
    deps.logger.error('oauth callback: tokens perhaps not stored; authorization kept', { tenantId });
    return finish('exchange_failed');
  }
  if (connected === undefined) return giveBack('the tenant was offboarded meanwhile');
  // Onboarded again while connected: the earlier consent is given back once the new one is stored, so no live
  // authorization stays behind that nothing uses or could revoke, but only when it is surely another OU's
  // (revocation.ts): a consent of the same OU may share the new one's authorization at Cronofy.
  const previous = connected.previous;
  if (previous !== undefined) {
    if (!mayRevoke({ token: previous.refreshToken, sub: previous.sub }, stored)) {
      logKept(deps.logger, tenantId, 'oauth callback: previous authorization');
      return finish('connected');
    }
    try {
      await oauth.revoke(previous.refreshToken);
      deps.logger.info('oauth callback: previous authorization revoked', { tenantId });
    } catch (error) {
      deps.logger.warn('oauth callback: previous authorization not revoked at Cronofy', {
        tenantId,
        error: (error as Error).name,
      });
    }
  }
  return finish('connected');
}

/** Reads of the credential a connection makes while refreshes keep replacing it (each ~ an hour apart). */
const CONNECT_ATTEMPTS = 3;

/** The credential the tenant holds now, for the revocation rule; `unknown` when it cannot be read. */
async function liveCredential(tenantId: string, deps: CallbackDeps): Promise<LiveCredential> {
  try {
    return (await deps.store.getCredential(tenantId)) ?? 'none';
  } catch {
    return 'unknown';
  }
}

/**
 * Store a new consent's tokens in place of the credential read just before (if any), on the condition that it is
 * still the one read: a refresh landing in between (Cronofy rotating the refresh token) is read again, so the
 * refresh token returned is the last one the replaced authorization held, with its OU id. Undefined when the
 * tenant is gone or offboarded. A credential that cannot be decrypted any more is replaced all the same
 * (connecting again is how an operator repairs it), without a token to revoke.
 */
async function connectReplacing(
  tenantId: string,
  tokens: StoredTokens,
  stateIssuedAt: number,
  deps: CallbackDeps,
): Promise<{ previous?: { refreshToken: string; sub?: string } } | 'unknown' | undefined> {
  for (let attempt = 1; ; attempt++) {
    let previous: { generation: number | undefined; replaced?: { refreshToken: string; sub?: string } };
    try {
      const credential = await deps.store.getCredential(tenantId);
      previous = credential
        ? {
            generation: credential.generation,
            replaced: {
              refreshToken: credential.refreshToken,
              ...(credential.sub === undefined ? {} : { sub: credential.sub }),
            },
          }
        : { generation: undefined };
    } catch (error) {
      deps.logger.warn('oauth callback: the credential it replaces is unreadable', {
        tenantId,
        error: (error as Error).name,
      });
      previous = { generation: await deps.store.credentialGeneration(tenantId) };
    }
    // The last attempt replaces whatever is there: the consent just given must not be lost to a busy credential.
    const expected = attempt < CONNECT_ATTEMPTS ? { generation: previous.generation } : undefined;
    const now = deps.clock().toISOString();
    const conditions = {
      stateIssuedAt,
      ...(expected ? { expected } : {}),
      ...(previous.generation === undefined ? {} : { after: previous.generation }),
    };
    const made = await connectOnce(tenantId, tokens, now, conditions, deps);
    if (made === 'unknown') return made;
    if (made) return previous.replaced === undefined ? {} : { previous: previous.replaced };
    const tenant = await deps.store.getTenant(tenantId);
    if (!tenant || tenant.offboardedAt || offboardedSince(tenant, stateIssuedAt) || expected === undefined)
      return undefined;
  }
}

/**
 * One `connect`. A write that failed only on its way back may have been made: read back, it is a success when the
 * credential holds these tokens (the one it replaced must then be revoked like any other); a read that fails too
 * leaves it `unknown`.
 */
async function connectOnce(
  tenantId: string,
  tokens: StoredTokens,
  now: string,
  conditions: ConnectConditions,
  deps: CallbackDeps,
): Promise<boolean | 'unknown'> {
  try {
    return await deps.store.connect(tenantId, tokens, now, conditions);
  } catch (error) {
    deps.logger.warn('oauth callback: the write of the tokens failed; reading it back', {
      tenantId,
      error: (error as Error).name,
    });
    let holds: boolean;
    try {
      holds = (await deps.store.getCredential(tenantId))?.refreshToken === tokens.refreshToken;
    } catch {
      return 'unknown';
    }
    if (holds) return true;
    throw error;
  }
}

/** Whether the tenant was offboarded at or after `issuedAt` (ms since the epoch; 0 when not recorded). */
function offboardedSince(tenant: TenantItem, issuedAt: number): boolean {
  return tenant.lastOffboardedAt !== undefined && Date.parse(tenant.lastOffboardedAt) >= issuedAt;
}

/** A query parameter that must be there at most once; repeated values (a,b) are not a state. */
export function callbackQuery(parameters: Record<string, string | undefined> | undefined): CallbackQuery {
  const one = (name: string) => {
    const value = parameters?.[name];
    return value === undefined || value.includes(',') ? undefined : value;
  };
  const state = one('state');
  const code = one('code');
  const error = one('error');
  return {
    ...(state === undefined ? {} : { state }),
    ...(code === undefined ? {} : { code }),
    ...(error === undefined ? {} : { error }),
  };
}
