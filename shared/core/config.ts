import * as z from 'zod/mini';
import { ENV, type Env } from '../contract/env.ts';

/**
 * Non-secret configuration: the `cronofy` key of `cdk.json` context. Parsed once when the CDK app or the
 * local stack starts (and again, from the environment, when a function cold-starts); a bad value stops it
 * with a message naming the key.
 */

export const DATA_CENTERS = ['us', 'uk', 'de', 'au', 'ca', 'sg'] as const;
export type DataCenter = (typeof DATA_CENTERS)[number];

/** The link steps of Scheduler Workflows: the only steps a recipient can be redirected from. */
export const LINK_STEPS = [
  'time_chosen',
  'rescheduled',
  'declined',
  'no_times_available',
  'more_times_requested',
] as const;
export type LinkStep = (typeof LINK_STEPS)[number];

/** Host of Cronofy's scheduler and Public Link pages for a data center (as the official SDKs build it). */
export function appHost(dataCenter: DataCenter): string {
  return dataCenter === 'us' ? 'app.cronofy.com' : `app-${dataCenter}.cronofy.com`;
}

/** Host of Cronofy's API for a data center (`api.cronofy.com`, `api-{dc}.cronofy.com`). */
export function apiHost(dataCenter: DataCenter): string {
  return dataCenter === 'us' ? 'api.cronofy.com' : `api-${dataCenter}.cronofy.com`;
}

const httpsUrl = z.string().check(
  z.refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'https:' && url.hostname !== '' && url.username === '' && url.password === '';
    } catch {
      return false;
    }
  }, 'must be an absolute https:// URL without credentials'),
);

/** Cronofy Public Link slugs are short URL-safe tokens (e.g. `Q5-ZDPM8`). */
const publicLinkSlug = z
  .string()
  .check(z.regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a Cronofy Public Link slug like Q5-ZDPM8'));
const publicLinkName = z
  .string()
  .check(z.regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be lowercase letters, digits, - or _'));

const nonEmpty = z.string().check(z.minLength(1, 'must not be empty'));
const wholeNumber = (min: number, max: number) =>
  z
    .number()
    .check(
      z.refine(
        (n) => Number.isInteger(n) && n >= min && n <= max,
        `must be a whole number from ${min} to ${max}`,
      ),
    );

export const localSecretsSchema = z.strictObject({
  clientSecrets: z.array(nonEmpty).check(z.minLength(1, 'must list at least one client secret')),
  embedPublicKey: nonEmpty,
  embedSecret: nonEmpty,
  /** The bearer local handlers send to the Cronofy fake (and the fake accepts); the first client secret when absent. */
  apiCredential: z.optional(nonEmpty),
  /**
   * Base64 of 32 bytes: the AES-256-GCM key tenants' credentials are encrypted with in local mode (KMS in AWS).
   * A new key each run when absent (DynamoDB Local keeps nothing between runs either).
   */
  tenantsKey: z.optional(
    z
      .string()
      .check(
        z.refine((value) => Buffer.from(value, 'base64').byteLength === 32, 'must be base64 of 32 bytes'),
      ),
  ),
});

export const cronofyConfigSchema = z.strictObject({
  dataCenter: z.enum(DATA_CENTERS, `must be one of ${DATA_CENTERS.join(', ')}`),
  redirects: z._default(
    z.partialRecord(z.enum(LINK_STEPS, `must be one of ${LINK_STEPS.join(', ')}`), httpsUrl),
    {},
  ),
  publicLinks: z._default(z.record(publicLinkName, publicLinkSlug), {}),
  /** Upper bound on concurrent worker invocations (SQS event source mapping maximum concurrency, 2–1000). */
  workerMaxConcurrency: z._default(wholeNumber(2, 1000), 10),
  /** CloudWatch Logs retention for every function, in days. */
  logRetentionDays: z._default(wholeNumber(1, 3653), 30),
  /** Days a `notification` record is kept before DynamoDB's TTL removes it (0 keeps them forever). */
  notificationRetentionDays: z._default(wholeNumber(0, 3650), 90),
  /** How long a function keeps secrets from Secrets Manager before reading them again. */
  secretsCacheSeconds: z._default(wholeNumber(0, 3600), 300),
  /**
   * Minutes between scheduled reconciliations (re-reading open scheduling requests from Cronofy, for
   * notifications Cronofy gave up delivering); 0 turns the schedule off (`npm run ops -- reconcile` still works).
   */
  reconcileIntervalMinutes: z._default(wholeNumber(0, 1440), 60),
  /**
   * Cronofy calls one reconciliation run may make at most (each queries up to 50 requests); what is left
   * waits for the next run.
   */
  reconcileMaxCalls: z._default(wholeNumber(1, 1000), 100),
  /**
   * Organization Connect (tenants): the Cronofy application's client id (not secret; its client secret is the
   * first of the secret's client_secrets). Without it, onboarding a tenant answers that it is not configured.
   */
  clientId: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be a Cronofy client id'))),
  /**
   * Where the customer admin's browser goes after Organization Connect: `successUrl` with `tenant_id`,
   * `errorUrl` with `tenant_id` and `error`. Without them a small page says what happened.
   */
  onboarding: z._default(
    z.strictObject({ successUrl: z.optional(httpsUrl), errorUrl: z.optional(httpsUrl) }),
    {},
  ),
  /** Development-only secrets used by local mode; never deployed. */
  local: z.optional(localSecretsSchema),
});

export type CronofyConfig = z.infer<typeof cronofyConfigSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parse configuration, failing with a message that names every wrong key (e.g. `cronofy.dataCenter`). */
export function parseConfig(raw: unknown, source = 'cdk.json context'): CronofyConfig {
  const result = cronofyConfigSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  throw invalidConfig(result.error, 'cronofy', source);
}

/**
 * A ConfigError naming every wrong key under `root` (e.g. `cronofy.dataCenter`); unknown keys are listed, or
 * the `allowed` ones named instead.
 */
function invalidConfig(error: z.core.$ZodError, root: string, source: string, allowed?: string): ConfigError {
  const problems = error.issues.map((issue) => {
    const key = [root, ...issue.path.map(String)].join('.');
    // zod/mini keeps bundles small but has no message catalogue: fill in the common cases here.
    const message =
      issue.message !== 'Invalid input'
        ? issue.message
        : issue.code === 'unrecognized_keys'
          ? allowed
            ? `unknown key(s); allowed: ${allowed}`
            : `unknown key(s) ${(issue as { keys?: string[] }).keys?.join(', ')}`
          : issue.code === 'invalid_type'
            ? `expected ${(issue as { expected?: string }).expected}`
            : 'invalid value';
    return `${key}: ${message}`;
  });
  return new ConfigError(`Invalid configuration in ${source}:\n  ${problems.join('\n  ')}`);
}

/** Configuration of the redirect and link functions, as their environment carries it. */
export const publicConfigSchema = z.pick(cronofyConfigSchema, {
  dataCenter: true,
  redirects: true,
  publicLinks: true,
});
export type PublicConfig = z.infer<typeof publicConfigSchema>;

/**
 * The redirect and link function's configuration from its environment (`CRONOFY_PUBLIC_CONFIG`, written by
 * infra/stack.ts), failing at cold start with the key at fault.
 */
export function publicConfigFromEnv(env: Env): PublicConfig {
  const name = ENV.publicConfig;
  const text = env[name];
  if (!text) throw new ConfigError(`${name} is not set`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ConfigError(`${name} is not valid JSON`);
  }
  const result = publicConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  throw invalidConfig(result.error, name, name, 'dataCenter, redirects, publicLinks');
}
