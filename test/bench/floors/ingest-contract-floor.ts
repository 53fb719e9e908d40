import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { makeFloorHandler } from './ingest-floor-core.ts';

/**
 * The ingest floor plus the one thing the configuration contract adds on a cold path: the client secrets are read from
 * Secrets Manager at run time (never from plain environment variables), with the SDK client, once.
 */

const client = new SQSClient({});
const secrets = new SecretsManagerClient({});
let handler: ReturnType<typeof makeFloorHandler> | undefined;

export async function floorHandler(event: Parameters<ReturnType<typeof makeFloorHandler>>[0]) {
  if (!handler) {
    const secret = await secrets.send(new GetSecretValueCommand({ SecretId: process.env.SECRET_ARN }));
    const document = JSON.parse(secret.SecretString ?? '{}') as { client_secrets: string[] };
    handler = makeFloorHandler(client, process.env.QUEUE_URL ?? '', document.client_secrets);
  }
  return handler(event);
}

export { floorHandler as handler };
