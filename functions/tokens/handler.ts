import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyEventV2WithIAMAuthorizer,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import { secretsManagerFromEnv } from '#shared/aws/secrets.ts';
import { DomainError } from '#shared/core/errors.ts';
import { once } from '#shared/core/lazy.ts';
import { createLogger } from '#shared/core/logger.ts';
import { bodyBytes, toApiResponse } from '#shared/edge/api-gateway.ts';
import {
  forbidden,
  RECIPIENT_HEADERS,
  routeNotFound,
  tokenErrorToJson,
  tokenIssued,
} from '#shared/edge/http.ts';
import { issueToken, type TokenDeps, type TokenKind } from '#shared/recipients/tokens.ts';

export interface TokensHandlerDeps extends TokenDeps {
  /**
   * Refuse requests that API Gateway did not authorise with IAM (SigV4). On in AWS, as a second lock in case the
   * route is ever deployed without its authorizer; off in local mode, whose gateway checks its own credential.
   */
  requireIamAuthorizer: boolean;
}

/** Entry adapter for `POST /tokens/claim` and `POST /tokens/embed` (the integrator's own services). */
export function makeHandler(deps: TokensHandlerDeps) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const kind = kindOf(event);
    if (kind === undefined) {
      return toApiResponse(routeNotFound(RECIPIENT_HEADERS));
    }
    const iam = (event as Partial<APIGatewayProxyEventV2WithIAMAuthorizer>).requestContext?.authorizer?.iam;
    if (deps.requireIamAuthorizer && !iam) {
      deps.logger.error(
        'token request without IAM authorization refused: is the route missing its authorizer?',
      );
      return toApiResponse(forbidden(RECIPIENT_HEADERS));
    }
    try {
      const issued = await issueToken(
        { kind, body: bodyBytes(event), caller: iam?.userArn ?? undefined },
        deps,
      );
      return toApiResponse(tokenIssued(issued));
    } catch (error) {
      // A DomainError is an answer for the caller; anything else is a failure, logged.
      if (!(error instanceof DomainError)) {
        deps.logger.error('token request failed', { kind, error: (error as Error).name });
      }
      return toApiResponse(tokenErrorToJson(error));
    }
  };
}

function kindOf(event: APIGatewayProxyEventV2): TokenKind | undefined {
  if (event.requestContext.http.method !== 'POST') return undefined;
  if (event.routeKey === 'POST /tokens/claim') return 'claim';
  if (event.routeKey === 'POST /tokens/embed') return 'embed';
  // Fallback for gateways that send `$default` (rawPath carries a stage prefix on named stages).
  const match = /^(?:\/[^/]+)?\/tokens\/(claim|embed)$/.exec(event.rawPath ?? '');
  return match ? (match[1] as TokenKind) : undefined;
}

function depsFromEnv(env: NodeJS.ProcessEnv = process.env): TokensHandlerDeps {
  return {
    secrets: secretsManagerFromEnv(env),
    clock: () => new Date(),
    logger: createLogger('tokens'),
    requireIamAuthorizer: true,
  };
}

const live = once(() => makeHandler(depsFromEnv()));
export const handler = (event: APIGatewayProxyEventV2) => live()(event);
