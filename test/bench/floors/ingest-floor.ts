import { SQSClient } from '@aws-sdk/client-sqs';
import { makeFloorHandler } from './ingest-floor-core.ts';

/**
 * Lambda entry of the ingest floor bundle: the bare SQS client plus node:crypto, with a module-scope client
 * as any Lambda would have it. The secrets come from the environment: the floor reads nothing.
 */
const client = new SQSClient({});
export const handler = makeFloorHandler(
  client,
  process.env.QUEUE_URL ?? '',
  (process.env.FLOOR_SECRETS ?? '').split(','),
);
