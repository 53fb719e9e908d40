import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { GetQueueAttributesCommand, type QueueAttributeName } from '@aws-sdk/client-sqs';
import { type CronofyFake, startCronofyFake } from '../../infra/local/cronofy-fake.ts';
import { freePort } from '../../infra/local/services.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';

/** Local mode for a test file, and the variables a user's other terminal would set to find it. */

export const ROOT = new URL('../../', import.meta.url);

/** A quiet local stack on free ports, accepting notifications signed with `clientSecret`. */
export function startTestStack(name: string, clientSecret: string): Promise<LocalStack> {
  return startLocalStack({
    quiet: true,
    tableName: `e2e-${name}-${process.pid}`,
    visibilityTimeoutSeconds: 5,
    env: {
      CRONOFY_CLIENT_SECRETS: clientSecret,
      CRONOFY_EMBED_PUBLIC_KEY: `EMB_e2e_${name}`,
      CRONOFY_EMBED_SECRET: `ESK_e2e_${name}`,
    },
  });
}

/**
 * What `npm start` runs: a quiet local stack and the Cronofy fake it calls, which signs its notifications with
 * `clientSecret` and sends them to the stack's notification route. `env` finds both, as npm start's banner says.
 */
export async function startTestStackWithFake(
  name: string,
  clientSecret: string,
): Promise<{ stack: LocalStack; fake: CronofyFake; env: NodeJS.ProcessEnv }> {
  const port = await freePort();
  const fake = await startCronofyFake({
    clientSecret,
    notificationUrl: `http://127.0.0.1:${port}/cronofy/notifications`,
  });
  try {
    const stack = await startLocalStack({
      port,
      quiet: true,
      tableName: `e2e-${name}-${process.pid}`,
      visibilityTimeoutSeconds: 5,
      cronofyApiUrl: fake.url,
      env: {
        CRONOFY_CLIENT_SECRETS: clientSecret,
        CRONOFY_EMBED_PUBLIC_KEY: `EMB_e2e_${name}`,
        CRONOFY_EMBED_SECRET: `ESK_e2e_${name}`,
      },
    });
    const env = {
      ...localModeEnv(stack),
      CRONOFY_API_PORT: String(fake.port),
      CRONOFY_CLIENT_SECRETS: clientSecret,
    };
    return { stack, fake, env };
  } catch (error) {
    await fake.close();
    throw error;
  }
}

/** PORT, DYNAMODB_PORT, SQS_PORT and TABLE_NAME of a running stack: what npm start's banner tells users. */
export function localModeEnv(stack: LocalStack): Record<string, string> {
  return {
    PORT: new URL(stack.url).port,
    DYNAMODB_PORT: new URL(stack.endpoints.dynamodb).port,
    SQS_PORT: new URL(stack.endpoints.sqs).port,
    TABLE_NAME: stack.tableName,
  };
}

/** Run a command as a user would (from the project root) and keep everything it prints. */
export async function runCommand(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const [code] = await once(child, 'exit');
  return { code: code as number | null, output };
}

/** Approximate message counts of a running stack: visible and in flight on the queue, and on the DLQ. */
export async function queueDepth(
  stack: Pick<LocalStack, 'clients' | 'queueUrl' | 'dlqUrl'>,
): Promise<{ visible: number; inFlight: number; dlq: number }> {
  const count = async (url: string, name: QueueAttributeName) =>
    Number(
      (await stack.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [name] })))
        .Attributes?.[name] ?? 0,
    );
  const [visible, inFlight, dlq] = await Promise.all([
    count(stack.queueUrl, 'ApproximateNumberOfMessages'),
    count(stack.queueUrl, 'ApproximateNumberOfMessagesNotVisible'),
    count(stack.dlqUrl, 'ApproximateNumberOfMessages'),
  ]);
  return { visible, inFlight, dlq };
}

/** Wait until the worker has drained the queue (nothing visible, nothing in flight); the depth then. */
export async function drained(
  stack: Pick<LocalStack, 'clients' | 'queueUrl' | 'dlqUrl'>,
  timeoutMs: number,
): Promise<{ visible: number; inFlight: number; dlq: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const depth = await queueDepth(stack);
    if (depth.visible === 0 && depth.inFlight === 0) return depth;
    if (Date.now() > deadline) throw new Error(`queue not drained: ${JSON.stringify(depth)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
