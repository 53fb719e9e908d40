import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { secretsManagerFromEnv } from '#shared/aws/secrets.ts';
import { INGEST_SQS_CLIENT_CONFIG, SqsNotificationQueue } from '#shared/aws/sqs-queue.ts';
import { tenantDirectoryFromEnv } from '#shared/aws/tenant-directory.ts';
import { ENV, requiredEnv } from '#shared/contract/env.ts';
import { once } from '#shared/core/lazy.ts';
import { createLogger } from '#shared/core/logger.ts';
import { bodyBytes, toApiResponse } from '#shared/edge/api-gateway.ts';
import { header, healthy, notificationAccepted, notificationErrorToJson } from '#shared/edge/http.ts';
import { acceptNotification, type IngestDeps } from '#shared/notifications/accept.ts';

/** Entry adapter for `POST /cronofy/notifications`, `POST /cronofy/notifications/{tenant_id}` and `GET /healthz`. */
export function makeHandler(deps: IngestDeps) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    if (event.requestContext.http.method === 'GET' && event.rawPath === '/healthz') {
      return toApiResponse(healthy());
    }
    try {
      await acceptNotification(
        {
          body: bodyBytes(event),
          signature: header(event.headers, 'cronofy-hmac-sha256'),
          notificationId: header(event.headers, 'cronofy-notification-id'),
          // Present only on `POST /cronofy/notifications/{tenant_id}`.
          ...(event.pathParameters?.tenant_id === undefined
            ? {}
            : { tenantId: event.pathParameters.tenant_id }),
        },
        deps,
      );
      return toApiResponse(notificationAccepted());
    } catch (error) {
      return toApiResponse(notificationErrorToJson(error));
    }
  };
}

function depsFromEnv(): IngestDeps {
  const queueUrl = requiredEnv(process.env, ENV.queueUrl);
  requiredEnv(process.env, ENV.tenantsTableName);
  requiredEnv(process.env, ENV.tenantsKeyArn);
  const tenants = once(() => tenantDirectoryFromEnv(process.env));
  return {
    queue: new SqsNotificationQueue(new SQSClient(INGEST_SQS_CLIENT_CONFIG), queueUrl),
    secrets: secretsManagerFromEnv(),
    clock: () => new Date(),
    logger: createLogger('ingest'),
    // The tenant notification URLs verify with a tenant's own client secrets (the tenants table, KMS-encrypted).
    // Built on the first tenant URL request, so the shared URL's cold start does not pay for it; its variables
    // are still checked now, so a missing one fails the cold start by name.
    tenants: { clientSecrets: (tenantId) => tenants().clientSecrets(tenantId) },
  };
}

const live = once(() => makeHandler(depsFromEnv()));
export const handler = (event: APIGatewayProxyEventV2) => live()(event);
