import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyEventV2WithIAMAuthorizer,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import { DynamoSchedulingStore } from '#shared/aws/scheduling-store.ts';
import { secretsManagerFromEnv } from '#shared/aws/secrets.ts';
import { ENV, requiredEnv } from '#shared/contract/env.ts';
import { DomainError, TenantUnavailableError, UnknownTenantError } from '#shared/core/errors.ts';
import { once } from '#shared/core/lazy.ts';
import { createLogger } from '#shared/core/logger.ts';
import { countersLine } from '#shared/core/metrics.ts';
import { cronofyClientFromEnv, cronofyErrorMetric } from '#shared/cronofy/from-env.ts';
import { bodyBytes, toApiResponse } from '#shared/edge/api-gateway.ts';
import {
  forbidden,
  type HttpResult,
  header,
  routeNotFound,
  schedulingErrorToJson,
  schedulingRequestCancelled,
  schedulingRequestCreated,
} from '#shared/edge/http.ts';
import {
  cancelSchedulingRequest,
  createSchedulingRequest,
  type SchedulingRequestDeps,
} from '#shared/scheduling/requests.ts';
import { tenantCredentialsFromEnv } from '../tenants/credentials-from-env.ts';

export interface SchedulingRequestsHandlerDeps extends SchedulingRequestDeps {
  /** Refuse requests API Gateway did not authorise with IAM (a second lock behind the route's authorizer). */
  requireIamAuthorizer: boolean;
  /** EMF lines (stdout in Lambda); local mode leaves it out. */
  writeMetric?: (line: string) => void;
  metricsNamespace?: string;
}

type Route = { kind: 'create' } | { kind: 'cancel'; id: string | undefined };

/** Entry adapter for `POST /scheduling-requests` and `POST /scheduling-requests/{id}/cancel` (the integrator's backend). */
export function makeHandler(deps: SchedulingRequestsHandlerDeps) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const route = routeOf(event);
    if (route === undefined) return toApiResponse(routeNotFound());
    const iam = (event as Partial<APIGatewayProxyEventV2WithIAMAuthorizer>).requestContext?.authorizer?.iam;
    if (deps.requireIamAuthorizer && !iam) {
      deps.logger.error(
        'scheduling request without IAM authorization refused: is the route missing its authorizer?',
      );
      return toApiResponse(forbidden());
    }
    const counters: Record<string, number> = {};
    const count = (name: string) => {
      counters[name] = (counters[name] ?? 0) + 1;
    };
    const routeDeps: SchedulingRequestDeps = {
      ...deps,
      onCronofyError: (error, tenantId) => {
        count(cronofyErrorMetric(error, tenantId));
        deps.onCronofyError?.(error, tenantId);
      },
    };
    let answer: HttpResult;
    try {
      if (route.kind === 'create') {
        answer = schedulingRequestCreated(
          await createSchedulingRequest(
            {
              body: bodyBytes(event),
              idempotencyKey: header(event.headers, 'idempotency-key'),
              caller: iam?.userArn ?? undefined,
            },
            routeDeps,
          ),
        );
        count('SchedulingRequestsCreated');
      } else {
        answer = schedulingRequestCancelled(await cancelSchedulingRequest(route.id, routeDeps));
        count('SchedulingRequestsCancelled');
      }
    } catch (error) {
      // A DomainError is an answer for the caller; anything else is a failure, logged.
      if (!(error instanceof DomainError))
        deps.logger.error('scheduling request failed', { route: route.kind, error: (error as Error).name });
      const refused = tenantRefusedMetric(error);
      if (refused) count(refused);
      answer = schedulingErrorToJson(error);
    }
    const line = deps.writeMetric ? countersLine(counters, deps.clock(), deps.metricsNamespace) : undefined;
    if (line) deps.writeMetric?.(line);
    return toApiResponse(answer);
  };
}

/** Tenant state → the metric counting requests refused for it (graphed per state on the dashboard). */
export const TENANT_REFUSED_METRICS = {
  unknown_tenant: 'SchedulingRequestsUnknownTenant',
  tenant_not_connected: 'SchedulingRequestsTenantNotConnected',
  tenant_disconnected: 'SchedulingRequestsTenantDisconnected',
} as const;

function tenantRefusedMetric(error: unknown): string | undefined {
  if (error instanceof UnknownTenantError) return TENANT_REFUSED_METRICS.unknown_tenant;
  if (error instanceof TenantUnavailableError) return TENANT_REFUSED_METRICS[error.code];
  return undefined;
}

function routeOf(event: APIGatewayProxyEventV2): Route | undefined {
  if (event.requestContext.http.method !== 'POST') return undefined;
  if (event.routeKey === 'POST /scheduling-requests') return { kind: 'create' };
  if (event.routeKey === 'POST /scheduling-requests/{id}/cancel')
    return { kind: 'cancel', id: event.pathParameters?.id };
  // Fallback for gateways that send `$default` (rawPath carries a stage prefix on named stages).
  const path = event.rawPath ?? '';
  if (/^(?:\/[^/]+)?\/scheduling-requests$/.test(path)) return { kind: 'create' };
  const cancel = /^(?:\/[^/]+)?\/scheduling-requests\/([^/]+)\/cancel$/.exec(path);
  return cancel ? { kind: 'cancel', id: decodePathSegment(cancel[1] ?? '') } : undefined;
}

/** A malformed percent-encoding is no id (the answer is a 400), never an exception. */
function decodePathSegment(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

function depsFromEnv(env: NodeJS.ProcessEnv = process.env): SchedulingRequestsHandlerDeps {
  const tableName = requiredEnv(env, ENV.tableName);
  const logger = createLogger('schedulingRequests');
  const secrets = secretsManagerFromEnv(env);
  const writeMetric = (line: string) => process.stdout.write(`${line}\n`);
  const store = new DynamoSchedulingStore(
    new DynamoDBClient({ requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 } }),
    tableName,
  );
  return {
    api: cronofyClientFromEnv(
      env,
      secrets,
      logger,
      tenantCredentialsFromEnv(env, secrets, logger, writeMetric),
    ),
    store,
    idempotency: store,
    clock: () => new Date(),
    logger,
    requireIamAuthorizer: true,
    writeMetric,
    metricsNamespace: requiredEnv(env, ENV.metricsNamespace),
  };
}

const live = once(() => makeHandler(depsFromEnv()));
export const handler = (event: APIGatewayProxyEventV2) => live()(event);
