import { connectionGeneration } from '#shared/aws/tenant-store.ts';
import { InvalidRequestError } from '#shared/core/errors.ts';
import type {
  ConnectConditions,
  StoredTokens,
  TenantCredential,
  TenantItem,
  TenantStore,
} from '#shared/core/ports.ts';

/**
 * An in-memory TenantStore with the DynamoDB adapter's semantics (conditional lease, single-use states,
 * offboarding), for unit tests. `calls` counts every method call, so tests can assert what was (not) touched.
 */
export class MemoryTenantStore implements TenantStore {
  readonly tenants = new Map<string, TenantItem & { clientSecrets?: string[]; offboarded?: boolean }>();
  readonly credentials = new Map<string, TenantCredential & { leaseToken?: string }>();
  readonly states = new Map<string, { tenantId: string; expiresAt: number; issuedAt: number }>();
  readonly calls: string[] = [];
  private connections = 0;

  async putTenant(
    tenantId: string,
    change: { name?: string; clientSecrets?: readonly string[] },
    now: string,
  ) {
    this.calls.push('putTenant');
    const existing = this.tenants.get(tenantId);
    if (!existing && change.name === undefined) return undefined;
    const next = {
      tenantId,
      name: change.name ?? existing?.name ?? '',
      status: existing?.status ?? 'registered',
      clientSecretsCount: change.clientSecrets?.length ?? existing?.clientSecretsCount ?? 0,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
      ...(existing?.connectedAt ? { connectedAt: existing.connectedAt } : {}),
      ...(existing?.disconnectedAt ? { disconnectedAt: existing.disconnectedAt } : {}),
      ...(existing?.lastOffboardedAt ? { lastOffboardedAt: existing.lastOffboardedAt } : {}),
      ...(change.clientSecrets !== undefined
        ? { clientSecrets: [...change.clientSecrets] }
        : existing?.clientSecrets
          ? { clientSecrets: existing.clientSecrets }
          : {}),
    } as TenantItem & { clientSecrets?: string[] };
    // A PUT registers an offboarded tenant again.
    delete next.offboardedAt;
    this.tenants.set(tenantId, next);
    return { tenant: this.view(next), created: !existing };
  }

  private view(item: TenantItem & { clientSecrets?: string[]; offboarded?: boolean }): TenantItem {
    const { clientSecrets: _secrets, offboarded: _offboarded, ...tenant } = item;
    return { ...tenant };
  }

  async getTenant(tenantId: string) {
    this.calls.push('getTenant');
    const item = this.tenants.get(tenantId);
    return item ? this.view(item) : undefined;
  }

  async listTenants(cursor: string | undefined, limit: number) {
    this.calls.push('listTenants');
    const ids = [...this.tenants.keys()].sort();
    if (cursor !== undefined && !ids.includes(cursor)) throw new InvalidRequestError('cursor is not valid');
    const start = cursor === undefined ? 0 : ids.indexOf(cursor) + 1;
    const page = ids.slice(start, start + limit);
    const next = start + limit < ids.length ? page.at(-1) : undefined;
    return {
      tenants: page.map((id) => this.view(this.tenants.get(id) as TenantItem)),
      ...(next ? { cursor: next } : {}),
    };
  }

  async tenantClientSecrets(tenantId: string) {
    const item = this.tenants.get(tenantId);
    if (!item || item.offboarded) return undefined;
    return item.clientSecrets ?? [];
  }

  async putOAuthState(stateHash: string, tenantId: string, expiresAt: number, issuedAt: number) {
    this.calls.push('putOAuthState');
    this.states.set(stateHash, { tenantId, expiresAt, issuedAt });
  }

  async takeOAuthState(stateHash: string, nowSeconds: number) {
    this.calls.push('takeOAuthState');
    const state = this.states.get(stateHash);
    if (!state || state.expiresAt <= nowSeconds) return undefined;
    this.states.delete(stateHash);
    return { tenantId: state.tenantId, issuedAt: state.issuedAt };
  }

  async connect(tenantId: string, tokens: StoredTokens, now: string, conditions: ConnectConditions = {}) {
    this.calls.push('connect');
    const { expected, stateIssuedAt } = conditions;
    const tenant = this.tenants.get(tenantId);
    if (!tenant || tenant.offboarded) return false;
    if (expected && this.credentials.get(tenantId)?.generation !== expected.generation) return false;
    const issued = stateIssuedAt === undefined ? undefined : new Date(stateIssuedAt).toISOString();
    if (issued !== undefined && tenant.lastOffboardedAt !== undefined && tenant.lastOffboardedAt >= issued)
      return false;
    tenant.status = 'connected';
    tenant.connectedAt = now;
    delete tenant.disconnectedAt;
    this.credentials.set(tenantId, {
      tenantId,
      ...tokens,
      generation: connectionGeneration(now, conditions),
      connectionId: `connection_${++this.connections}`,
    });
    return true;
  }

  async getCredential(tenantId: string) {
    this.calls.push('getCredential');
    const credential = this.credentials.get(tenantId);
    if (!credential) return undefined;
    const { leaseToken: _token, ...rest } = credential;
    return { ...rest };
  }

  async credentialGeneration(tenantId: string) {
    this.calls.push('credentialGeneration');
    return this.credentials.get(tenantId)?.generation;
  }

  async takeRefreshLease(
    tenantId: string,
    generation: number,
    leaseToken: string,
    nowMs: number,
    leaseUntil: number,
  ) {
    this.calls.push('takeRefreshLease');
    const credential = this.credentials.get(tenantId);
    if (!credential || credential.generation !== generation) return false;
    if (credential.leaseUntil !== undefined && credential.leaseUntil >= nowMs) return false;
    credential.leaseToken = leaseToken;
    credential.leaseUntil = leaseUntil;
    return true;
  }

  async saveRefreshed(tenantId: string, generation: number, tokens: StoredTokens) {
    this.calls.push('saveRefreshed');
    const credential = this.credentials.get(tenantId);
    if (!credential || credential.generation !== generation) return false;
    const sub = tokens.sub ?? credential.sub;
    this.credentials.set(tenantId, {
      tenantId,
      ...tokens,
      generation: credential.generation + 1,
      ...(credential.connectionId ? { connectionId: credential.connectionId } : {}),
      ...(sub === undefined ? {} : { sub }),
    });
    return true;
  }

  async deferRefusal(tenantId: string, leaseToken: string, leaseUntil: number) {
    this.calls.push('deferRefusal');
    const credential = this.credentials.get(tenantId);
    if (credential?.leaseToken !== leaseToken) return false;
    credential.refusedOnce = true;
    credential.leaseUntil = leaseUntil;
    return true;
  }

  async releaseRefreshLease(tenantId: string, leaseToken: string) {
    this.calls.push('releaseRefreshLease');
    const credential = this.credentials.get(tenantId);
    if (credential?.leaseToken === leaseToken) {
      delete credential.leaseToken;
      delete credential.leaseUntil;
    }
  }

  async disconnect(tenantId: string, leaseToken: string, now: string) {
    this.calls.push('disconnect');
    const credential = this.credentials.get(tenantId);
    if (!credential || credential.leaseToken !== leaseToken) return false;
    this.credentials.delete(tenantId);
    const tenant = this.tenants.get(tenantId);
    if (tenant) {
      tenant.status = 'disconnected';
      tenant.disconnectedAt = now;
    }
    return true;
  }

  async offboard(tenantId: string, now: string, expected?: { generation: number | undefined }) {
    this.calls.push('offboard');
    if (expected && this.credentials.get(tenantId)?.generation !== expected.generation) return false;
    if (expected && this.tenants.get(tenantId)?.offboarded) return false;
    this.credentials.delete(tenantId);
    const tenant = this.tenants.get(tenantId);
    if (tenant) {
      tenant.status = 'disconnected';
      tenant.disconnectedAt = now;
      tenant.offboarded = true;
      tenant.offboardedAt = now;
      tenant.lastOffboardedAt = now;
      tenant.clientSecretsCount = 0;
      delete tenant.clientSecrets;
    }
    return true;
  }
}
