import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';

/**
 * A deployed stage's stack outputs (infra/stack.ts), read with the caller's AWS credentials: what the
 * operator commands and the smoke test need to find the stage's resources.
 */

export const stackName = (stage: string) => `CronofyNotifications-${stage}`;

export class StackNotFound extends Error {
  override readonly name = 'StackNotFound';
}

export async function stackOutputs(
  stage: string,
  required: readonly string[],
  region?: string,
): Promise<Record<string, string>> {
  const name = stackName(stage);
  const client = new CloudFormationClient(region ? { region } : {});
  let outputs: Record<string, string>;
  try {
    const described = await client.send(new DescribeStacksCommand({ StackName: name }));
    outputs = Object.fromEntries(
      (described.Stacks?.[0]?.Outputs ?? []).map((output) => [
        output.OutputKey ?? '',
        output.OutputValue ?? '',
      ]),
    );
  } catch (error) {
    if (/does not exist/.test((error as Error).message)) {
      const where = region ?? ((await client.config.region()) || 'the default region');
      throw new StackNotFound(
        `stack ${name} does not exist in ${where}: deploy it first (npx cdk deploy -c stage=${stage}), ` +
          'or give the region it is in (--region, or AWS_REGION)',
      );
    }
    throw error;
  } finally {
    client.destroy();
  }
  const missing = required.filter((key) => !outputs[key]);
  if (missing.length > 0) {
    throw new StackNotFound(
      `stack ${name} has no output ${missing.join(', ')}: it was deployed from an older version; deploy again`,
    );
  }
  return outputs;
}
