import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { DynamoRedirectStore, REDIRECT_CLIENT_CONFIG } from '#shared/aws/redirect-store.ts';
import { secretsManagerFromEnv } from '#shared/aws/secrets.ts';
import { ENV, requiredEnv } from '#shared/contract/env.ts';
import { publicConfigFromEnv } from '#shared/core/config.ts';
import { DomainError } from '#shared/core/errors.ts';
import { once } from '#shared/core/lazy.ts';
import { createLogger } from '#shared/core/logger.ts';
import { toApiResponse } from '#shared/edge/api-gateway.ts';
import { recipientAnswer, recipientErrorPage } from '#shared/edge/http.ts';
import { type LinkDeps, launchPublicLink } from '#shared/recipients/links.ts';
import { followRedirect, type RedirectDeps } from '#shared/recipients/redirects.ts';

export type RecipientDeps = RedirectDeps & LinkDeps;

/** Entry adapter for `GET /redirects/{step}` and `GET /links/{name}` (the recipient's browser). */
export function makeHandler(deps: RecipientDeps) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    try {
      const route = routeOf(event);
      const rawQuery = event.rawQueryString;
      // Where the recipient goes; nowhere (a 404 page) for an unknown route, step or link name.
      let location: string | undefined;
      if (route?.kind === 'redirect') location = await followRedirect({ step: route.param, rawQuery }, deps);
      else if (route?.kind === 'link')
        location = await launchPublicLink({ name: route.param, rawQuery }, deps);
      return toApiResponse(recipientAnswer(location));
    } catch (error) {
      // A person is reading this answer: a plain page, never a stack trace.
      // A DomainError is an answer for the caller; anything else is a failure, logged.
      if (!(error instanceof DomainError))
        deps.logger.error('recipient request failed', { error: (error as Error).name });
      return toApiResponse(recipientErrorPage(error));
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

function depsFromEnv(env: NodeJS.ProcessEnv = process.env): RecipientDeps {
  const config = publicConfigFromEnv(env);
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
