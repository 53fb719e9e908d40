import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyEventV2WithIAMAuthorizer,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import { secretsManagerFromEnv } from '#shared/aws/secrets.ts';
import { tenantStoreFromEnv } from '#shared/aws/tenant-store.ts';
import { ENV, requiredEnv } from '#shared/contract/env.ts';
import { appHost } from '#shared/core/config.ts';
import { DomainError } from '#shared/core/errors.ts';
import { once } from '#shared/core/lazy.ts';
import { createLogger } from '#shared/core/logger.ts';
import { cronofyOAuthFromEnv, dataCenterFromEnv } from '#shared/cronofy/from-env.ts';
import { bodyBytes, toApiResponse } from '#shared/edge/api-gateway.ts';
import {
  forbidden,
  type HttpResult,
  oauthCallbackAnswer,
  recipientErrorPage,
  routeNotFound,
  tenantErrorToJson,
  tenantFound,
  tenantListed,
  tenantOffboarded,
  tenantOnboarding,
  tenantPut,
} from '#shared/edge/http.ts';
import {
  type CallbackDeps,
  callbackQuery,
  completeOAuthCallback,
  type OnboardingDeps,
  startOnboarding,
} from '#shared/tenants/onboarding.ts';
import {
  getTenant,
  listTenants,
  offboardTenant,
  putTenant,
  type RegistryDeps,
} from '#shared/tenants/registry.ts';

export type TenantsHandlerDeps = RegistryDeps &
  OnboardingDeps &
  CallbackDeps & {
    /** Refuse service routes API Gateway did not authorise with IAM (a second lock behind the authorizer). */
    requireIamAuthorizer: boolean;
  };

type Route =
  | { kind: 'put' | 'get' | 'delete' | 'onboarding'; tenantId: string | undefined }
  | { kind: 'list' }
  | { kind: 'callback' };

/**
 * Entry adapter for the tenant routes: `PUT/GET/DELETE /tenants/{tenant_id}`, `GET /tenants`,
 * `POST /tenants/{tenant_id}/onboarding` (the integrator's backend, IAM) and `GET /oauth/cronofy/callback`
 * (the customer admin's browser, public: the OAuth state is its only credential).
 */
export function makeHandler(deps: TenantsHandlerDeps) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const route = routeOf(event);
    if (route === undefined) return toApiResponse(routeNotFound());
    if (route.kind === 'callback') {
      try {
        return toApiResponse(
          oauthCallbackAnswer(await completeOAuthCallback(callbackQuery(event.queryStringParameters), deps)),
        );
      } catch (error) {
        deps.logger.error('oauth callback failed', { error: (error as Error).name });
        return toApiResponse(recipientErrorPage(error));
      }
    }
    const iam = (event as Partial<APIGatewayProxyEventV2WithIAMAuthorizer>).requestContext?.authorizer?.iam;
    if (deps.requireIamAuthorizer && !iam) {
      deps.logger.error(
        'tenant request without IAM authorization refused: is the route missing its authorizer?',
      );
      return toApiResponse(forbidden());
    }
    const caller = iam?.userArn ?? undefined;
    let answer: HttpResult;
    try {
      switch (route.kind) {
        case 'put':
          answer = tenantPut(
            await putTenant({ tenantId: route.tenantId, body: bodyBytes(event), caller }, deps),
          );
          break;
        case 'get':
          answer = tenantFound(await getTenant(route.tenantId, deps));
          break;
        case 'list':
          answer = tenantListed(await listTenants(event.queryStringParameters?.cursor, deps));
          break;
        case 'delete':
          answer = tenantOffboarded(await offboardTenant({ tenantId: route.tenantId, caller }, deps));
          break;
        case 'onboarding':
          answer = tenantOnboarding(await startOnboarding({ tenantId: route.tenantId, caller }, deps));
          break;
      }
    } catch (error) {
      // A DomainError is an answer for the caller; anything else is a failure, logged.
      if (!(error instanceof DomainError))
        deps.logger.error('tenant request failed', { route: route.kind, error: (error as Error).name });
      answer = tenantErrorToJson(error);
    }
    return toApiResponse(answer);
  };
}

const ROUTE_KEYS: Record<string, Route['kind']> = {
  'PUT /tenants/{tenant_id}': 'put',
  'GET /tenants/{tenant_id}': 'get',
  'DELETE /tenants/{tenant_id}': 'delete',
  'POST /tenants/{tenant_id}/onboarding': 'onboarding',
  'GET /tenants': 'list',
  'GET /oauth/cronofy/callback': 'callback',
};

function routeOf(event: APIGatewayProxyEventV2): Route | undefined {
  const method = event.requestContext.http.method;
  let kind = ROUTE_KEYS[event.routeKey];
  let tenantId = event.pathParameters?.tenant_id;
  if (kind === undefined || !event.routeKey.startsWith(`${method} `)) {
    // Fallback for gateways that send `$default` (rawPath carries a stage prefix on named stages).
    const path = event.rawPath ?? '';
    const one = /^(?:\/[^/]+)?\/tenants\/([^/]+)(\/onboarding)?$/.exec(path);
    kind = undefined;
    if (/^(?:\/[^/]+)?\/tenants$/.test(path) && method === 'GET') kind = 'list';
    else if (/^(?:\/[^/]+)?\/oauth\/cronofy\/callback$/.test(path) && method === 'GET') kind = 'callback';
    else if (one) {
      tenantId = decodePathSegment(one[1] ?? '');
      if (one[2]) kind = method === 'POST' ? 'onboarding' : undefined;
      else kind = ({ PUT: 'put', GET: 'get', DELETE: 'delete' } as const)[method as 'PUT'];
    }
  }
  if (kind === undefined) return undefined;
  if (kind === 'list' || kind === 'callback') return { kind };
  return { kind, tenantId };
}

/** A malformed percent-encoding is no id (the answer is a 400), never an exception. */
function decodePathSegment(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

function depsFromEnv(env: NodeJS.ProcessEnv = process.env): TenantsHandlerDeps {
  const secrets = secretsManagerFromEnv(env);
  const apiUrl = requiredEnv(env, ENV.apiUrl).replace(/\/+$/, '');
  const clientId = env[ENV.cronofyClientId];
  const successUrl = env[ENV.onboardingSuccessUrl];
  const errorUrl = env[ENV.onboardingErrorUrl];
  const oauth = cronofyOAuthFromEnv(env, secrets);
  return {
    store: tenantStoreFromEnv(env),
    secrets,
    clock: () => new Date(),
    logger: createLogger('tenants'),
    apiUrl,
    callbackUrl: `${apiUrl}/oauth/cronofy/callback`,
    appUrl: `https://${appHost(dataCenterFromEnv(env))}`,
    ...(clientId ? { clientId } : {}),
    ...(oauth ? { oauth } : {}),
    ...(successUrl ? { successUrl } : {}),
    ...(errorUrl ? { errorUrl } : {}),
    requireIamAuthorizer: true,
  };
}

const live = once(() => makeHandler(depsFromEnv()));
export const handler = (event: APIGatewayProxyEventV2) => live()(event);
