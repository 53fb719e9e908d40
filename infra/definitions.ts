/**
 * The one description of the system's resources. The CDK stack (infra/stack.ts) and local mode
 * (infra/local/) are both built from these values, so the two cannot drift apart.
 */

export const TABLE = {
  /** Local table name; in AWS CloudFormation names the table (see the stack's outputs). */
  localName: 'cronofy-records',
  partitionKey: 'pk',
  streamViewType: 'NEW_AND_OLD_IMAGES',
  /** DynamoDB TTL attribute (epoch seconds): notification records expire after the retention period. */
  ttlAttribute: 'expires_at',
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
  maximumMessageBytes: 256 * 1024,
} as const;

export type FunctionName = 'ingest' | 'worker' | 'redirects' | 'tokens';

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
};

export interface RouteDefinition {
  method: 'GET' | 'POST';
  /** API Gateway path syntax: `{name}` is a path parameter. */
  path: string;
  function: FunctionName;
  /** `iam`: SigV4-signed callers only (AWS_IAM authorizer in AWS; a documented credential locally). */
  auth: 'none' | 'iam';
}

export const ROUTES: readonly RouteDefinition[] = [
  { method: 'POST', path: '/cronofy/notifications', function: 'ingest', auth: 'none' },
  { method: 'GET', path: '/healthz', function: 'ingest', auth: 'none' },
  { method: 'GET', path: '/redirects/{step}', function: 'redirects', auth: 'none' },
  { method: 'GET', path: '/links/{name}', function: 'redirects', auth: 'none' },
  { method: 'POST', path: '/tokens/claim', function: 'tokens', auth: 'iam' },
  { method: 'POST', path: '/tokens/embed', function: 'tokens', auth: 'iam' },
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
