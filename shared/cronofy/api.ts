import type { SchedulingRequest } from './api-schemas.ts';

/**
 * The port domain code uses to call Cronofy's Scheduling Requests API
 * (https://docs.cronofy.com/developers/api/scheduling-requests/). The HTTP adapter is `makeCronofyApi`
 * (api-client.ts); tests pass fakes. Every method rejects with the typed errors of api-errors.ts.
 */

export type { SchedulingRequest } from './api-schemas.ts';

/**
 * Ids per `POST /v1/scheduling_requests/query`. Cronofy documents no maximum (UNCONFIRMED); 50 is a
 * conservative guess that keeps each answer small. Change it here if Cronofy states one.
 */
export const QUERY_BATCH_SIZE = 50;

export interface Recipient {
  email: string;
  displayName: string;
}

/** Who hosts the request: a Scheduling Template, or a host / Selection Rule with the event's details. */
export type SchedulingRequestSource =
  | { kind: 'template'; sub: string }
  | { kind: 'host' | 'host_group'; sub: string; summary: string; durationMinutes: number };

export interface NewSchedulingRequest {
  recipient: Recipient;
  source: SchedulingRequestSource;
}

export interface CallOptions {
  /** Whose credential to use (Organization Connect: one per tenant); the single-tenant provider ignores it. */
  tenant?: string;
  /** Abandon the call (no retry after it fires). */
  signal?: AbortSignal;
}

export interface CronofyApi {
  createSchedulingRequest(request: NewSchedulingRequest, options?: CallOptions): Promise<SchedulingRequest>;
  /** The requests Cronofy knows among `ids`, in batches; ids it does not return are simply absent. */
  querySchedulingRequests(ids: readonly string[], options?: CallOptions): Promise<SchedulingRequest[]>;
  cancelSchedulingRequest(id: string, options?: CallOptions): Promise<void>;
}
