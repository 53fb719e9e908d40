/**
 * What the AWS SDK says when the caller's machine is not set up for AWS, said the way a user can act on:
 * which thing is missing and the ways to give it. The SDK's own words ("Region is missing",
 * `CredentialsProviderError: Could not load credentials from any providers`) name neither. Used by the tools
 * that reach a deployed stage: `npm run ops -- --stage`, `npm run smoke -- --stage`, `npm run sim` on an AWS
 * table; also a network that does not reach AWS. Undefined for any other error.
 */
export function explainAwsSetup(error: unknown, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const profile = env.AWS_PROFILE ? ` (AWS_PROFILE is "${env.AWS_PROFILE}")` : '';
  if (/region is missing/i.test(error.message)) {
    return (
      `No AWS region${profile}: give --region <region>, or set AWS_REGION (export AWS_REGION=eu-west-1), ` +
      'or set AWS_PROFILE to a profile of ~/.aws/config that has a region.'
    );
  }
  if (error.name === 'CredentialsProviderError' || /could not load credentials/i.test(error.message)) {
    if (env.AWS_PROFILE) {
      return (
        `No AWS credentials from the profile "${env.AWS_PROFILE}" (AWS_PROFILE): check that it is in ~/.aws/config ` +
        `or ~/.aws/credentials (aws configure list-profiles) and signed in (aws sso login --profile ${env.AWS_PROFILE}).`
      );
    }
    return (
      'No AWS credentials found: set AWS_PROFILE to a profile of ~/.aws/config (aws configure, or aws sso login ' +
      '--profile <name>), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.'
    );
  }
  if (/ExpiredToken|token .*expired/i.test(`${error.name} ${error.message}`)) {
    return `Your AWS credentials have expired${profile}: sign in again (aws sso login), or refresh AWS_SESSION_TOKEN.`;
  }
  const unreachable = unreachableHost(error);
  if (unreachable !== undefined) {
    return (
      `AWS cannot be reached (${unreachable}): check the network connection, a proxy the network needs, and ` +
      'the region (--region, AWS_REGION) naming a real AWS region.'
    );
  }
  return undefined;
}

/** The network error of a request that never reached AWS (no DNS, no route), in its words. */
function unreachableHost(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;
  const codes = /\b(ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH)\b/;
  if (typeof code === 'string' && codes.test(code)) return error.message;
  return codes.test(error.message) ? error.message : undefined;
}

/** A failure of a tool, for its user: the AWS setup problem when it is one, else the error's own words. */
export function describeToolFailure(
  tool: string,
  error: unknown,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return (
    explainAwsSetup(error, env) ??
    `${tool} failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`
  );
}
