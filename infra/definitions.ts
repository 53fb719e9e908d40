import { PARTITION_KEY, TTL_ATTRIBUTE } from '#shared/contract/keys.ts';
import { SQS_MESSAGE_MAX_BYTES } from '#shared/contract/limits.ts';
import { OPEN_INDEX } from '#shared/contract/open-index.ts';
import { TENANTS_PARTITION_KEY, TENANTS_TTL_ATTRIBUTE } from '#shared/contract/tenants.ts';
import { instanceRateShare, type RateLimit } from '#shared/cronofy/rate-limiter.ts';

/**
 * The one description of the system's resources. The CDK stack (infra/stack.ts) and local mode
 * (infra/local/) are both built from these values, so the two cannot drift apart.
 */

export const TABLE = {
  /** Local table name; in AWS CloudFormation names the table (see the stack's outputs). */
  localName: 'cronofy-records',
  partitionKey: PARTITION_KEY,
  streamViewType: 'NEW_AND_OLD_IMAGES',
  /** DynamoDB TTL attribute: notification records expire after the retention period. */
  ttlAttribute: TTL_ATTRIBUTE,
  /** Sparse index of open scheduling requests (shared/contract/open-index.ts), read by reconciliation. */
  openIndex: OPEN_INDEX,
} as const;

/**
 * Tenants (an integrator's customers): their registrations, encrypted Organization Connect credentials and OAuth
 * states (shared/aws/tenant-store.ts). A table of its own, without a stream: nothing of it may reach the records
 * table's stream, the downstream contract.
 */
export const TENANTS_TABLE = {
  localName: 'cronofy-tenants',
  partitionKey: TENANTS_PARTITION_KEY,
  /** OAuth states expire (epoch seconds); tenants and credentials do not. */
  ttlAttribute: TENANTS_TTL_ATTRIBUTE,
} as const;

export const WORKER = {
  timeoutSeconds: 30,
  memoryMb: 512,
  batchSize: 10,
  maxBatchingWindowSeconds: 1,
} as const;

export const QUEUE = {
  localName: 'cronofy-notifications',
  dlqLocalName: 'cronofy-notifications-dlq',
  /** ≥ 6 × the worker timeout, as AWS recommends for SQS event sources. */
  visibilityTimeoutSeconds: 6 * WORKER.timeoutSeconds,
  /** Receives before a message moves to the DLQ: enough to ride out a DynamoDB incident of minutes. */
  maxReceiveCount: 8,
  retentionDays: 14,
  /** Largest message, in bytes (the envelope module keeps every message within it). */
  maximumMessageBytes: SQS_MESSAGE_MAX_BYTES,
} as const;

export type FunctionName =
  | 'ingest'
  | 'worker'
  | 'redirects'
  | 'tokens'
  | 'schedulingRequests'
  | 'reconcile'
  | 'events'
  | 'tenants';

/**
 * `systemLogLevel`: the level of Lambda's own log lines (START / REPORT), with the JSON log format. `WARN`
 * keeps only Lambda's warnings (timeouts, crashes, out of memory) and drops the two lines per invocation that
 * are otherwise 40 % of the ingest function's log bytes, one invocation per notification; duration and
 * memory remain in the CloudWatch Lambda metrics. The worker (one invocation per batch) keeps them.
 */
export interface FunctionDefinition {
  entry: string;
  memoryMb: number;
  timeoutSeconds: number;
  systemLogLevel: 'DEBUG' | 'INFO' | 'WARN';
}

export const FUNCTIONS: Record<FunctionName, FunctionDefinition> = {
  ingest: { entry: 'functions/ingest/handler.ts', memoryMb: 512, timeoutSeconds: 10, systemLogLevel: 'WARN' },
  worker: {
    entry: 'functions/worker/handler.ts',
    memoryMb: WORKER.memoryMb,
    timeoutSeconds: WORKER.timeoutSeconds,
    systemLogLevel: 'INFO',
  },
  redirects: {
    entry: 'functions/redirects/handler.ts',
    memoryMb: 256,
    timeoutSeconds: 10,
    systemLogLevel: 'INFO',
  },
  tokens: { entry: 'functions/tokens/handler.ts', memoryMb: 256, timeoutSeconds: 10, systemLogLevel: 'INFO' },
  // Cronofy's call budget (10 s) plus waiting for a concurrent request with the same Idempotency-Key (8 s),
  // within API Gateway's 30 s.
  schedulingRequests: {
    entry: 'functions/scheduling-requests/handler.ts',
    memoryMb: 256,
    timeoutSeconds: 25,
    systemLogLevel: 'INFO',
  },
  // The tenant routes and Organization Connect's callback: one token call (5 s) and a few table writes.
  tenants: {
    entry: 'functions/tenants/handler.ts',
    memoryMb: 256,
    timeoutSeconds: 15,
    systemLogLevel: 'INFO',
  },
  // A run is bounded by cronofy.reconcileMaxCalls at this instance's share of the rate limit.
  reconcile: {
    entry: 'functions/reconcile/handler.ts',
    memoryMb: 512,
    timeoutSeconds: 600,
    systemLogLevel: 'INFO',
  },
  // The table stream to the event bus: a pure mapping and one PutEvents per 10 events. At a trickle it runs once
  // per record, so Lambda's own lines would cost more than the compute (infra/README.md, Downstream events).
  events: {
    entry: 'functions/events/handler.ts',
    memoryMb: 256,
    timeoutSeconds: 30,
    systemLogLevel: 'WARN',
  },
};

/**
 * The table stream's event source mapping for the events function (infra/README.md: why a stream function and
 * not EventBridge Pipes). One batch at a time per shard (no parallelization factor), so each record's events
 * are put in order.
 */
export const EVENTS = {
  batchSize: 100,
  maxBatchingWindowSeconds: 1,
  /**
   * Retries of a failing batch (bisected each time) before it is given up into the dead-letter queue: as many as
   * Lambda allows, so a bus outage or a long throttle holds the shard (the `EventsDelayed` alarm) rather than
   * giving records up; the stream's 24 hours (`maxRecordAgeHours`) end the retries first.
   */
  retryAttempts: 10_000,
  /** The stream's own retention: a record is retried at most as long as the stream keeps it. */
  maxRecordAgeHours: 24,
  /** Only the state records can make an event; the rest never reach the function (filtered for free). */
  entities: ['scheduling_request', 'event', 'event_trigger'],
} as const;

/**
 * The functions that call Cronofy's API and how many instances of each may run at once (Lambda reserved
 * concurrency). Cronofy's limits (50 requests in any second, 500 in any minute) are per application, so they
 * are shared out: every instance gets `cronofyRateShare()`, and all instances together stay within them.
 */
export const CRONOFY_CALLERS = {
  schedulingRequests: { reservedConcurrency: 5 },
  /** One run at a time: the schedule and `npm run ops -- reconcile --stage` invoke the same function. */
  reconcile: { reservedConcurrency: 1 },
} as const satisfies Partial<Record<FunctionName, { reservedConcurrency: number }>>;

/** One instance's share of Cronofy's per-application limits (6 instances: 8 per second, 83 per minute). */
export function cronofyRateShare(): RateLimit {
  const instances = Object.values(CRONOFY_CALLERS).reduce(
    (sum, caller) => sum + caller.reservedConcurrency,
    0,
  );
  return instanceRateShare(instances);
}

export interface RouteDefinition {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** API Gateway path syntax: `{name}` is a path parameter. */
  path: string;
  function: FunctionName;
  /** `iam`: SigV4-signed callers only (AWS_IAM authorizer in AWS; a documented credential locally). */
  auth: 'none' | 'iam';
  /** Which throttle of ROUTE_THROTTLES the route gets in AWS (each route has its own token bucket). */
  throttle: RouteThrottleClass;
}

/**
 * Who calls a route, for throttling: `cronofy` (notifications; Cronofy gives up on a notification after 10
 * consecutive failed deliveries, so nothing else may use up its capacity), `recipients` (browsers following
 * redirect and link URLs: public, so a flood is possible), `services` (the integrator's backend, IAM-signed),
 * `health` (load balancers and tooling).
 */
export type RouteThrottleClass = 'cronofy' | 'recipients' | 'services' | 'health';

export interface RouteThrottle {
  /** Steady-state requests per second; beyond it callers get 429. */
  rateLimit: number;
  /** Requests accepted at once above the steady rate. */
  burstLimit: number;
}

/**
 * Per-route limits of the HTTP API stage (API Gateway route settings). API Gateway keeps one token bucket
 * per route, so a flood of /links or /redirects requests meets its own limit and cannot take capacity from
 * POST /cronofy/notifications. All routes together stay within the account's API Gateway quota.
 */
export const ROUTE_THROTTLES: Readonly<Record<RouteThrottleClass, RouteThrottle>> = {
  cronofy: { rateLimit: 50, burstLimit: 100 },
  recipients: { rateLimit: 20, burstLimit: 40 },
  services: { rateLimit: 10, burstLimit: 20 },
  health: { rateLimit: 5, burstLimit: 10 },
};

export const ROUTES: readonly RouteDefinition[] = [
  { method: 'POST', path: '/cronofy/notifications', function: 'ingest', auth: 'none', throttle: 'cronofy' },
  // A tenant's own Cronofy application (and the subscriptions the integrator sets for it) notify here.
  {
    method: 'POST',
    path: '/cronofy/notifications/{tenant_id}',
    function: 'ingest',
    auth: 'none',
    throttle: 'cronofy',
  },
  { method: 'GET', path: '/healthz', function: 'ingest', auth: 'none', throttle: 'health' },
  { method: 'GET', path: '/redirects/{step}', function: 'redirects', auth: 'none', throttle: 'recipients' },
  { method: 'GET', path: '/links/{name}', function: 'redirects', auth: 'none', throttle: 'recipients' },
  { method: 'POST', path: '/tokens/claim', function: 'tokens', auth: 'iam', throttle: 'services' },
  { method: 'POST', path: '/tokens/embed', function: 'tokens', auth: 'iam', throttle: 'services' },
  {
    method: 'POST',
    path: '/scheduling-requests',
    function: 'schedulingRequests',
    auth: 'iam',
    throttle: 'services',
  },
  {
    method: 'POST',
    path: '/scheduling-requests/{id}/cancel',
    function: 'schedulingRequests',
    auth: 'iam',
    throttle: 'services',
  },
  { method: 'PUT', path: '/tenants/{tenant_id}', function: 'tenants', auth: 'iam', throttle: 'services' },
  { method: 'GET', path: '/tenants/{tenant_id}', function: 'tenants', auth: 'iam', throttle: 'services' },
  { method: 'DELETE', path: '/tenants/{tenant_id}', function: 'tenants', auth: 'iam', throttle: 'services' },
  { method: 'GET', path: '/tenants', function: 'tenants', auth: 'iam', throttle: 'services' },
  {
    method: 'POST',
    path: '/tenants/{tenant_id}/onboarding',
    function: 'tenants',
    auth: 'iam',
    throttle: 'services',
  },
  // Public: the customer admin's browser, sent back by Cronofy; the single-use OAuth state is its credential.
  {
    method: 'GET',
    path: '/oauth/cronofy/callback',
    function: 'tenants',
    auth: 'none',
    throttle: 'recipients',
  },
];

/**
 * One JSON line per request. No query string, headers or body: they carry recipients' metadata, signatures
 * and tokens. Every request pays for its line in CloudWatch Logs (the benchmark's cost model counts it).
 */
export const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  caller: '$context.identity.userArn',
  routeKey: '$context.routeKey',
  status: '$context.status',
  responseLength: '$context.responseLength',
  latencyMs: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationError: '$context.integrationErrorMessage',
} as const;
