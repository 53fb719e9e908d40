import type { CronofyApi, NewSchedulingRequest, SchedulingRequest } from '#shared/cronofy/api.ts';
import type {
  CreatedRequest,
  IdempotencyState,
  IdempotencyStore,
  SchedulingRequestStore,
} from '#shared/scheduling/requests.ts';

/** In-memory stand-ins for the scheduling-request ports, with the same conditional semantics as DynamoDB's. */

export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly items = new Map<string, IdempotencyState & { expiresAt: number }>();
  constructor(private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000)) {}

  async begin(
    scope: string,
    item: { fingerprint: string; token: string; leaseUntil: number; createdAt: string; expiresAt: number },
  ) {
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
  failNext?: Error;
  async recordCreated(created: CreatedRequest) {
    if (this.failNext) throw this.failNext;
    this.created.push(created);
  }
  async recordCancelled(id: string, at: string) {
    if (this.failNext) throw this.failNext;
    const previous = this.cancelled.find((c) => c.id === id);
    if (previous) return previous.at;
    this.cancelled.push({ id, at });
    return at;
  }
}

/** A CronofyApi that creates `srq_1`, `srq_2`, … and can be told to fail or to take its time. */
export class FakeCronofyApi implements CronofyApi {
  readonly createCalls: NewSchedulingRequest[] = [];
  readonly cancelCalls: string[] = [];
  failWith?: Error;
  delayMs = 0;
  async createSchedulingRequest(request: NewSchedulingRequest): Promise<SchedulingRequest> {
    this.createCalls.push(request);
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
  async cancelSchedulingRequest(id: string): Promise<void> {
    this.cancelCalls.push(id);
    if (this.failWith) throw this.failWith;
  }
}
