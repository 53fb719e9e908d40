import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import * as z from 'zod/mini';
import { ConfigError, parseConfig } from '#shared/core/config.ts';
import { CronofyNotificationsStack } from './stack.ts';

/**
 * The CDK app: `npx cdk synth|deploy [-c stage=prod]`. Each stage is an independent copy of the system in
 * its own stack, `CronofyNotifications-<stage>`.
 */

export const DEFAULT_STAGE = 'dev';

/**
 * Context that only the deployment reads: `stage`, and keys of the `cronofy` object that the shared schema
 * (shared/core/config.ts) does not know, taken out before it sees the rest. Keys are spelled as their context
 * paths so that an error names the key to fix.
 */
const deploymentSchema = z.object({
  stage: z
    .string('must be a string')
    .check(
      z.regex(/^[A-Za-z][A-Za-z0-9-]{0,31}$/, 'must be a letter followed by up to 31 letters, digits or -'),
    ),
  'cronofy.secretArn': z.optional(
    z
      .string('must be a string')
      .check(
        z.regex(
          /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/,
          'must be the complete ARN of a Secrets Manager secret (with its six-character suffix)',
        ),
      ),
  ),
  'cronofy.alarmEmails': z._default(z.array(z.email('must be an email address')), []),
});

export function createApp(props: AppProps = {}): App {
  const app = new App(props);
  // AWS Solutions best-practice checks run on every synth; a finding that is not fixed or acknowledged
  // (with its reason, next to the resource) stops the synth.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

  const { secretArn, alarmEmails, ...cronofy } = contextObject(app.node.tryGetContext('cronofy'));
  const config = parseConfig(cronofy);
  const deployment = parseDeployment({
    stage: app.node.tryGetContext('stage') ?? DEFAULT_STAGE,
    'cronofy.secretArn': secretArn,
    'cronofy.alarmEmails': alarmEmails,
  });

  new CronofyNotificationsStack(app, `CronofyNotifications-${deployment.stage}`, {
    description: `Cronofy push notifications (${deployment.stage}): receive, verify, queue and apply`,
    stage: deployment.stage,
    config,
    secretArn: deployment['cronofy.secretArn'],
    monitoring: { alarmEmails: deployment['cronofy.alarmEmails'] },
  });
  return app;
}

function contextObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...value } : {};
}

function parseDeployment(raw: unknown): z.infer<typeof deploymentSchema> {
  const result = deploymentSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  throw new ConfigError(`Invalid configuration in cdk.json context:\n  ${problems.join('\n  ')}`);
}

// Run by the CDK CLI (cdk.json "app"), which synthesizes on exit; tests import createApp instead. A bad
// value is the user's to fix: its message names the key, and a stack trace would only bury it.
const entryScript = process.argv[1];
if (entryScript && import.meta.url === pathToFileURL(realpathSync(entryScript)).href) {
  try {
    createApp();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
}
