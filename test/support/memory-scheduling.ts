import { TenantUnavailableError, UnknownTenantError } from '#shared/core/errors.ts';
import type { CredentialProvider } from '#shared/core/ports.ts';
import type {
  CallOptions,
  CronofyApi,
  NewSchedulingRequest,
  SchedulingRequest,
} from '#shared/cronofy/api.ts';
import type {
  CreatedRequest,
  IdempotencyState,
  IdempotencyStore,
  SchedulingRequestStore,
} from '#shared/scheduling/requests.ts';

/** In-memory stand-ins for the scheduling-request ports, with the same conditional semantics as DynamoDB's. */

export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly items = new Map<string, IdempotencyState & { expiresAt: number; tenantId?: string }>();
  constructor(private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000)) {}

  async begin(scope: string, item: Parameters<IdempotencyStore['begin']>[1]) {
    const existing = this.items.get(scope);
    if (existing && existing.expiresAt >= this.nowSeconds())
      return { started: false as const, existing: { ...existing } };
    this.items.set(scope, { status: 'in_progress', ...item });
    return { started: true as const };
  }
  async get(scope: string) {
    const item = this.items.get(scope);
    return item ? { ...item } : undefined;
  }
  async takeOver(scope: string, fromToken: string, toToken: string, leaseUntil: number) {
    const item = this.items.get(scope);
    if (!item || item.token !== fromToken || item.status !== 'in_progress') return false;
    Object.assign(item, { token: toToken, leaseUntil });
    return true;
  }
  async saveCreated(scope: string, token: string, created: CreatedRequest) {
    const item = this.items.get(scope);
    if (!item || item.token !== token) throw new Error('taken over');
    Object.assign(item, { status: 'created', created });
  }
  async complete(scope: string) {
    const item = this.items.get(scope);
    if (item?.created) item.status = 'completed';
  }
  async release(scope: string, token: string) {
    const item = this.items.get(scope);
    if (item && item.token === token && item.status === 'in_progress') this.items.delete(scope);
  }
}

export class MemorySchedulingStore implements SchedulingRequestStore {
  readonly created: CreatedRequest[] = [];
  readonly cancelled: { id: string; at: string }[] = [];
  /** The tenant of each record, as tenantOf reads it. */
  readonly tenants = new Map<string, string>();
  failNext?: Error;
  /** Fails tenantOf (the read before a cancel). */
  failRead?: Error;
  async recordCreated(created: CreatedRequest) {
    if (this.failNext) throw this.failNext;
    this.created.push(created);
    if (created.tenant_id !== undefined && !this.tenants.has(created.scheduling_request_id))
      this.tenants.set(created.scheduling_request_id, created.tenant_id);
  }
  async tenantOf(id: string) {
    if (this.failRead) throw this.failRead;
    return this.tenants.get(id);
  }
  async recordCancelled(id: string, at: string) {
    if (this.failNext) throw this.failNext;
    const previous = this.cancelled.find((c) => c.id === id);
    if (previous) return previous.at;
    this.cancelled.push({ id, at });
    return at;
  }
}

/**
 * A CronofyApi that creates `srq_1`, `srq_2`, … and can be told to fail or to take its time. Given a
 * CredentialProvider, it asks it for the call's tenant as the HTTP client does (its errors reach the caller) and
 * notes which credential each call used.
 */
export class FakeCronofyApi implements CronofyApi {
  readonly createCalls: NewSchedulingRequest[] = [];
  readonly cancelCalls: string[] = [];
  /** Per call that got a credential: the tenant asked for and the credential the provider gave. */
  readonly credentialsUsed: { tenant: string | undefined; credential: string }[] = [];
  failWith?: Error;
  delayMs = 0;
  constructor(private readonly credentials?: CredentialProvider) {}

  private async credential(options: CallOptions | undefined): Promise<void> {
    if (!this.credentials) return;
    const credential = await this.credentials.get(options?.tenant);
    this.credentialsUsed.push({ tenant: options?.tenant, credential });
  }
  async createSchedulingRequest(
    request: NewSchedulingRequest,
    options?: CallOptions,
  ): Promise<SchedulingRequest> {
    this.createCalls.push(request);
    await this.credential(options);
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.failWith) throw this.failWith;
    const n = this.createCalls.length;
    return {
      scheduling_request_id: `srq_${n}`,
      primary_select_url: `https://app.cronofy.com/rts/token${n}?existing=1`,
      dashboard_url: `https://app.cronofy.com/scheduler/requests/${n}`,
      slot_selection: 'pending',
    };
  }
  async querySchedulingRequests(): Promise<SchedulingRequest[]> {
    return [];
  }
  async cancelSchedulingRequest(id: string, options?: CallOptions): Promise<void> {
    this.cancelCalls.push(id);
    await this.credential(options);
    if (this.failWith) throw this.failWith;
  }
}

/**
 * The tenant CredentialProvider's behaviour, in memory: tenants `a` and `b` are connected, `c` disconnected, `n`
 * registered without Organization Connect yet; any other is unknown. No tenant: the deployment's own credential.
 */
export function fakeTenantCredentials(): CredentialProvider & { invalidated: (string | undefined)[] } {
  const invalidated: (string | undefined)[] = [];
  const tokens: Record<string, string> = { a: 'OU_token_a', b: 'OU_token_b' };
  return {
    invalidated,
    async get(tenant) {
      if (tenant === undefined) return 'deployment_credential';
      const token = tokens[tenant];
      if (token) return token;
      if (tenant === 'c') throw new TenantUnavailableError(tenant, 'tenant_disconnected');
      if (tenant === 'n') throw new TenantUnavailableError(tenant, 'tenant_not_connected');
      throw new UnknownTenantError(tenant);
    },
    invalidate(tenant) {
      invalidated.push(tenant);
    },
  };
}

/**
 * Cronofy's query as each Organizational Unit sees it: a credential reads only the requests of its own tenant
 * (`tenantOf`: the tenant each id was created for), each answered `pending`. Calls can be made to fail per tenant.
 */
export class TenantScopedApi implements CronofyApi {
  readonly queries: { tenant: string | undefined; credential: string; ids: string[] }[] = [];
  /** Fail the calls of a tenant ('' for the deployment's own credential). */
  readonly failures = new Map<string, Error>();
  constructor(
    private readonly credentials: CredentialProvider,
    private readonly tenantOf: (id: string) => string | undefined,
  ) {}
  async createSchedulingRequest(): Promise<SchedulingRequest> {
    throw new Error('not used');
  }
  async cancelSchedulingRequest() {}
  async querySchedulingRequests(ids: readonly string[], options: CallOptions = {}) {
    const credential = await this.credentials.get(options.tenant);
    this.queries.push({ tenant: options.tenant, credential, ids: [...ids] });
    const failure = this.failures.get(options.tenant ?? '');
    if (failure) throw failure;
    return ids
      .filter((id) => this.tenantOf(id) === options.tenant)
      .map((id) => ({ scheduling_request_id: id, slot_selection: 'pending' }));
  }
}
