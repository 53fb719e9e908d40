import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2,
  Context,
  SQSBatchResponse,
  SQSEvent,
} from 'aws-lambda';
import { DynamoRecordStore } from '#shared/aws/dynamo-store.ts';
import { DynamoRedirectStore } from '#shared/aws/redirect-store.ts';
import { DynamoSchedulingStore } from '#shared/aws/scheduling-store.ts';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { SqsNotificationQueue } from '#shared/aws/sqs-queue.ts';
import { tenantDirectory } from '#shared/aws/tenant-directory.ts';
import type { Clock, CredentialProvider, Logger, RecordStore, TenantDirectory } from '#shared/core/ports.ts';
import { cronofyClient } from '#shared/cronofy/from-env.ts';
import { makeCronofyOAuth } from '#shared/cronofy/oauth-client.ts';
import { makeHandler as makeIngestHandler } from '../../functions/ingest/handler.ts';
import { makeHandler as makeRedirectsHandler } from '../../functions/redirects/handler.ts';
import { makeHandler as makeSchedulingRequestsHandler } from '../../functions/scheduling-requests/handler.ts';
import { makeHandler as makeTenantsHandler } from '../../functions/tenants/handler.ts';
import { makeHandler as makeTokensHandler } from '../../functions/tokens/handler.ts';
import { makeHandler as makeWorkerHandler } from '../../functions/worker/handler.ts';
import type { LocalConfig } from '../config.ts';
import { cronofyRateShare, FUNCTIONS, type FunctionName } from '../definitions.ts';
import { LOCAL_REGION } from '../local-mode.ts';
import { localTenantCredentials, localTenantStore } from '../local-tenants.ts';

/**
 * The functions of infra/definitions.ts, built the way the Lambda entry points build themselves but with
 * local ports: the same `makeHandler` and the same adapters, pointed at DynamoDB Local and the SQS emulator,
 * with secrets from local config instead of Secrets Manager.
 */

export type HttpHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2>;
/** Lambda also accepts no response (every message succeeded); the poller reads either. */
export type WorkerHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;
export type HttpFunctionName = Exclude<FunctionName, 'worker' | 'reconcile' | 'events'>;

export type LocalHandlers = Record<HttpFunctionName, HttpHandler> & { worker: WorkerHandler };

export interface LocalDeps {
  config: LocalConfig;
  sqs: SQSClient;
  queueUrl: string;
  dynamo: DynamoDBClient;
  tableName: string;
  clock: Clock;
  /** A logger per function (local mode prints them to the console, tests silence them). */
  logger: (name: FunctionName) => Logger;
  /** Where the functions reach Cronofy's API: local mode's fake (default DEFAULT_CRONOFY_API_URL). */
  cronofyApiUrl?: string;
  /**
   * The tenant seam: the per-tenant credential provider (Organization Connect tokens of the tenant registry) the
   * scheduling-requests function calls Cronofy with. Absent: the secret's credential, for every call.
   */
  credentials?: CredentialProvider;
  /** The tenants table (registrations, encrypted credentials, OAuth states). */
  tenantsTableName: string;
  /** The gateway's base URL: Organization Connect's redirect_uri and tenants' notification URLs hang off it. */
  gatewayUrl: string;
  /** Wraps the worker's record store (a fault hook of the reliability suite: a forced bug). */
  wrapWorkerStore?: (store: RecordStore) => RecordStore;
  /** The tenants the tenant notification URL knows (tests); default: the tenants table (registered client secrets). */
  tenants?: TenantDirectory;
}

/** The fake of Cronofy's API that `npm start` runs (CRONOFY_API_PORT 3100). */
export const DEFAULT_CRONOFY_API_URL = 'http://127.0.0.1:3100';

export function buildLocalHandlers(deps: LocalDeps): LocalHandlers {
  const secrets = new StaticSecrets(deps.config.secrets);
  const schedulingStore = new DynamoSchedulingStore(deps.dynamo, deps.tableName);
  const recordStore = new DynamoRecordStore(deps.dynamo, deps.tableName);
  const cronofyApiUrl = deps.cronofyApiUrl ?? DEFAULT_CRONOFY_API_URL;
  const { config } = deps.config;
  // KMS's stand-in: AES-256-GCM with a key every local process derives alike (infra/local-tenants.ts).
  const tenantStore = localTenantStore(deps.dynamo, deps.tenantsTableName, deps.config);
  const oauth = config.clientId
    ? makeCronofyOAuth({ baseUrl: cronofyApiUrl, clientId: config.clientId, secrets })
    : undefined;
  const schedulingLogger = deps.logger('schedulingRequests');
  const credentials =
    deps.credentials ??
    localTenantCredentials({
      store: tenantStore,
      local: deps.config,
      secrets,
      apiUrl: cronofyApiUrl,
      clock: deps.clock,
      logger: schedulingLogger,
    });
  return {
    ingest: makeIngestHandler({
      queue: new SqsNotificationQueue(deps.sqs, deps.queueUrl),
      secrets,
      clock: deps.clock,
      logger: deps.logger('ingest'),
      tenants: deps.tenants ?? tenantDirectory(tenantStore),
    }),
    worker: makeWorkerHandler({
      retentionDays: deps.config.config.notificationRetentionDays,
      store: deps.wrapWorkerStore ? deps.wrapWorkerStore(recordStore) : recordStore,
      clock: deps.clock,
      logger: deps.logger('worker'),
    }),

    redirects: makeRedirectsHandler({
      config: {
        dataCenter: deps.config.config.dataCenter,
        redirects: deps.config.config.redirects,
        publicLinks: deps.config.config.publicLinks,
      },
      secrets,
      store: new DynamoRedirectStore(deps.dynamo, deps.tableName),
      clock: deps.clock,
      logger: deps.logger('redirects'),
    }),
    tokens: makeTokensHandler({
      secrets,
      clock: deps.clock,
      logger: deps.logger('tokens'),
      // The local gateway checks its bearer credential and then sets the IAM context API Gateway would.
      requireIamAuthorizer: true,
    }),
    schedulingRequests: makeSchedulingRequestsHandler({
      api: cronofyClient({
        dataCenter: deps.config.config.dataCenter,
        apiUrl: cronofyApiUrl,
        // The same share of the rate limit as one deployed instance.
        rateLimit: cronofyRateShare(),
        secrets,
        // A call for a tenant uses its Organization Connect token; a call without one, the secret's credential.
        ...(credentials ? { credentials } : {}),
        logger: schedulingLogger,
      }),
      store: schedulingStore,
      idempotency: schedulingStore,
      clock: deps.clock,
      logger: schedulingLogger,
      requireIamAuthorizer: true,
    }),
    tenants: makeTenantsHandler({
      store: tenantStore,
      secrets,
      clock: deps.clock,
      logger: deps.logger('tenants'),
      apiUrl: deps.gatewayUrl,
      callbackUrl: `${deps.gatewayUrl}/oauth/cronofy/callback`,
      // The fake plays Cronofy's app host too (its /oauth/authorize).
      appUrl: cronofyApiUrl,
      ...(config.clientId ? { clientId: config.clientId } : {}),
      ...(oauth ? { oauth } : {}),
      ...(config.onboarding.successUrl ? { successUrl: config.onboarding.successUrl } : {}),
      ...(config.onboarding.errorUrl ? { errorUrl: config.onboarding.errorUrl } : {}),
      requireIamAuthorizer: true,
    }),
  };
}

/** A Lambda context for one local invocation, with the function's configured timeout. */
export function lambdaContext(name: FunctionName): Context {
  const deadline = Date.now() + FUNCTIONS[name].timeoutSeconds * 1000;
  const functionName = `local-${name}`;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:000000000000:function:${functionName}`,
    memoryLimitInMB: String(FUNCTIONS[name].memoryMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** Lambda ends an invocation at the function's timeout; locally the promise is abandoned, as the result is. */
export async function invokeWithTimeout<T>(
  name: FunctionName,
  invoke: (context: Context) => Promise<T>,
): Promise<T> {
  const context = lambdaContext(name);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Task timed out after ${FUNCTIONS[name].timeoutSeconds} seconds`)),
      context.getRemainingTimeInMillis(),
    );
  });
  try {
    return await Promise.race([invoke(context), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
