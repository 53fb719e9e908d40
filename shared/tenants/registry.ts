import * as z from 'zod/mini';
import { isTenantId, TENANT_ID_RULE } from '../contract/tenants.ts';
import { InvalidRequestError, UnknownTenantError } from '../core/errors.ts';
import type { TenantList, TenantOffboarded, TenantPut, TenantView } from '../core/outcomes.ts';
import type { Clock, Logger, TenantItem, TenantStore } from '../core/ports.ts';
import { textField } from '../core/text-field.ts';
import type { CronofyOAuth } from '../cronofy/oauth.ts';

/**
 * The tenant registry: register (`PUT`), read, list and offboard (`DELETE`) the integrator's customers. The
 * tenant id always comes from the URL, explicitly, into every store call. Answers never carry a token or a
 * secret: `client_secrets` is write-only, counted in `client_secrets_count`.
 */

export interface RegistryDeps {
  store: TenantStore;
  clock: Clock;
  logger: Logger;
  /** The API's base URL (no trailing slash), for each tenant's notification URL. */
  apiUrl: string;
  /** Cronofy's token endpoint, for revoking on offboarding; absent without `cronofy.clientId`. */
  oauth?: CronofyOAuth;
}

export const MAX_TENANT_CLIENT_SECRETS = 4;
export const TENANT_BODY_MAX_BYTES = 8 * 1024;
export const LIST_PAGE_SIZE = 50;
/** Reads of the credential an offboarding makes while refreshes keep replacing it (each ~ an hour apart). */
const OFFBOARD_ATTEMPTS = 3;

/** The tenant id of a URL, or a 400 saying what one looks like (the value itself is never echoed). */
export function parseTenantId(raw: string | undefined): string {
  if (raw === undefined || !isTenantId(raw))
    throw new InvalidRequestError(`tenant_id must be ${TENANT_ID_RULE}`);
  return raw;
}

const clientSecret = textField('client_secrets[]', 512);
export const tenantBodySchema = z.strictObject(
  {
    name: z.optional(textField('name', 128)),
    client_secrets: z.optional(
      z.array(clientSecret, { error: 'client_secrets must be a list of strings' }).check(
        z.maxLength(MAX_TENANT_CLIENT_SECRETS, {
          error: `client_secrets must hold at most ${MAX_TENANT_CLIENT_SECRETS} values`,
        }),
      ),
    ),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? 'unknown field; allowed fields: name, client_secrets'
        : 'body must be a JSON object',
  },
);
export type TenantBody = z.infer<typeof tenantBodySchema>;

/** A strict JSON body: UTF-8, an object, known fields only. Throws InvalidRequestError naming the field. */
export function parseTenantBody(body: Uint8Array): TenantBody {
  if (body.byteLength > TENANT_BODY_MAX_BYTES)
    throw new InvalidRequestError(`body must be at most ${TENANT_BODY_MAX_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new InvalidRequestError('body must be a JSON object');
  }
  const parsed = tenantBodySchema.safeParse(raw);
  if (!parsed.success) throw new InvalidRequestError(parsed.error.issues[0]?.message ?? 'invalid body');
  return parsed.data;
}

export function tenantView(tenant: TenantItem, apiUrl: string): TenantView {
  return {
    tenant_id: tenant.tenantId,
    name: tenant.name,
    status: tenant.status,
    notification_url: `${apiUrl}/cronofy/notifications/${encodeURIComponent(tenant.tenantId)}`,
    client_secrets_count: tenant.clientSecretsCount,
    ...(tenant.connectedAt ? { connected_at: tenant.connectedAt } : {}),
    ...(tenant.disconnectedAt ? { disconnected_at: tenant.disconnectedAt } : {}),
  };
}

export async function putTenant(
  request: { tenantId: string | undefined; body: Uint8Array; caller?: string },
  deps: RegistryDeps,
): Promise<TenantPut> {
  const tenantId = parseTenantId(request.tenantId);
  const body = parseTenantBody(request.body);
  if (body.name === undefined && !(await deps.store.getTenant(tenantId)))
    throw new InvalidRequestError('name is required when registering a tenant');
  const written = await deps.store.putTenant(
    tenantId,
    {
      ...(body.name === undefined ? {} : { name: body.name }),
      ...(body.client_secrets === undefined ? {} : { clientSecrets: body.client_secrets }),
    },
    deps.clock().toISOString(),
  );
  // Without a name only an existing tenant is updated: this one went between the read above and the write.
  if (!written) throw new InvalidRequestError('name is required when registering a tenant');
  const { tenant, created } = written;
  deps.logger.info(created ? 'tenant registered' : 'tenant updated', {
    tenantId,
    clientSecretsCount: tenant.clientSecretsCount,
    caller: request.caller,
  });
  return { tenant: tenantView(tenant, deps.apiUrl), created };
}

export async function getTenant(tenantIdRaw: string | undefined, deps: RegistryDeps): Promise<TenantView> {
  const tenantId = parseTenantId(tenantIdRaw);
  const tenant = await deps.store.getTenant(tenantId);
  if (!tenant) throw new UnknownTenantError(tenantId);
  return tenantView(tenant, deps.apiUrl);
}

export async function listTenants(cursor: string | undefined, deps: RegistryDeps): Promise<TenantList> {
  if (cursor !== undefined && cursor.length > 256) throw new InvalidRequestError('cursor is not valid');
  const page = await deps.store.listTenants(cursor === '' ? undefined : cursor, LIST_PAGE_SIZE);
  return {
    tenants: page.tenants.map((tenant) => tenantView(tenant, deps.apiUrl)),
    ...(page.cursor ? { nextCursor: page.cursor } : {}),
  };
}

/**
 * Offboarding: revoke the authorization at Cronofy (retried by the adapter; a failure is reported in the answer
 * and the log, never fatal), then forget the credential and the tenant's client secrets, status `disconnected`.
 * The tenant's records stay until `npm run ops -- tenant purge`.
 */
export async function offboardTenant(
  request: { tenantId: string | undefined; caller?: string },
  deps: RegistryDeps,
): Promise<TenantOffboarded> {
  const tenantId = parseTenantId(request.tenantId);
  const current = await deps.store.getTenant(tenantId);
  if (!current) throw new UnknownTenantError(tenantId);
  // A repeated DELETE (a retry, a second operator) answers what the first did: its credential is gone, so there
  // is nothing to revoke, and writing again would move the times the first offboarding recorded.
  if (current.offboardedAt) return { tenant: tenantView(current, deps.apiUrl), revoked: true };
  let revoked = true;
  let offboarded = false;
  try {
    // Forget the credential first, on the condition that it is the one read: a refresh landing in between
    // (Cronofy rotating the refresh token) is read again, so the token revoked is the last one it held. A refresh
    // still running finds the credential gone and gives its own new tokens back (credentials.ts).
    let refreshToken: string | undefined;
    for (let attempt = 1; ; attempt++) {
      const credential = await deps.store.getCredential(tenantId);
      refreshToken = credential?.refreshToken;
      const expected = { generation: credential?.generation };
      offboarded = await deps.store.offboard(tenantId, deps.clock().toISOString(), expected);
      if (offboarded) break;
      // Another offboarding came first (a concurrent DELETE): it revokes; this one answers what it did.
      const first = await deps.store.getTenant(tenantId);
      if (first?.offboardedAt) return { tenant: tenantView(first, deps.apiUrl), revoked: true };
      if (attempt === OFFBOARD_ATTEMPTS) throw new Error('the credential kept changing');
    }
    // Revoking the refresh token ends the authorization (RFC 7009); the access token dies with it.
    if (refreshToken !== undefined) {
      if (!deps.oauth) throw new Error('cronofy.clientId is not configured');
      await deps.oauth.revoke(refreshToken);
    }
  } catch (error) {
    revoked = false;
    deps.logger.warn('tenant tokens not revoked at Cronofy', { tenantId, error: (error as Error).name });
    // Whatever happened (the credential unreadable, Cronofy unreachable), the tenant is offboarded.
    if (!offboarded) await deps.store.offboard(tenantId, deps.clock().toISOString());
  }
  const tenant = await deps.store.getTenant(tenantId);
  if (!tenant) throw new UnknownTenantError(tenantId);
  deps.logger.info('tenant offboarded', { tenantId, revoked, caller: request.caller });
  return { tenant: tenantView(tenant, deps.apiUrl), revoked };
}
