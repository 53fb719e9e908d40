import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { DynamoRedirectStore, REDIRECT_CLIENT_CONFIG } from '#shared/aws/redirect-store.ts';
import { secretsManagerFromEnv } from '#shared/aws/secrets.ts';
import { ENV, requiredEnv } from '#shared/contract/env.ts';
import { once } from '#shared/core/lazy.ts';
import { createLogger } from '#shared/core/logger.ts';
import { toApiResponse } from '#shared/edge/api-gateway.ts';
import type { HttpResult } from '#shared/edge/http.ts';
import {
  errorPage,
  followRedirect,
  launchPublicLink,
  parsePublicConfig,
  type RedirectDeps,
} from '#shared/recipients/redirects.ts';

/** Entry adapter for `GET /redirects/{step}` and `GET /links/{name}` (the recipient's browser). */
export function makeHandler(deps: RedirectDeps) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    try {
      const route = routeOf(event);
      const rawQuery = event.rawQueryString;
      let result: HttpResult;
      if (route?.kind === 'redirect') result = await followRedirect({ step: route.param, rawQuery }, deps);
      else if (route?.kind === 'link') result = await launchPublicLink({ name: route.param, rawQuery }, deps);
      else result = errorPage(404);
      return toApiResponse(result);
    } catch (error) {
      // A person is reading this answer: a plain page, never a stack trace.
      deps.logger.error('recipient request failed', { error: (error as Error).name });
      return toApiResponse(errorPage(500));
    }
  };
}

/**
 * Which route matched. API Gateway names it in `routeKey`; `rawPath` (which carries a stage prefix on named
 * stages) is only the fallback for gateways that send `$default`.
 */
function routeOf(
  event: APIGatewayProxyEventV2,
): { kind: 'redirect' | 'link'; param: string | undefined } | undefined {
  if (event.requestContext.http.method !== 'GET') return undefined;
  if (event.routeKey === 'GET /redirects/{step}')
    return { kind: 'redirect', param: event.pathParameters?.step };
  if (event.routeKey === 'GET /links/{name}') return { kind: 'link', param: event.pathParameters?.name };
  const match = /^(?:\/[^/]+)?\/(redirects|links)\/([^/]+)$/.exec(event.rawPath ?? '');
  if (!match) return undefined;
  return { kind: match[1] === 'redirects' ? 'redirect' : 'link', param: match[2] };
}

function depsFromEnv(env: NodeJS.ProcessEnv = process.env): RedirectDeps {
  const config = parsePublicConfig(env[ENV.publicConfig]);
  const tableName = requiredEnv(env, ENV.tableName);
  return {
    config,
    store: new DynamoRedirectStore(new DynamoDBClient(REDIRECT_CLIENT_CONFIG), tableName),
    secrets: secretsManagerFromEnv(env),
    clock: () => new Date(),
    logger: createLogger('redirects'),
  };
}

const live = once(() => makeHandler(depsFromEnv()));
export const handler = (event: APIGatewayProxyEventV2) => live()(event);
