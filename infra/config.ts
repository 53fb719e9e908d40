import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, type CronofyConfig, parseConfig } from '#shared/core/config.ts';
import type { Secrets } from '#shared/core/ports.ts';
import { LOCAL_CLIENT_ID } from './local-mode.ts';

/**
 * The configuration of local mode and of the tools that work against it (infra/local/, infra/ops/): the same
 * `cdk.json` context the CDK app reads, with the environment variables of the configuration contract laid over
 * it. Secrets come from the environment or, failing that, from the development-only `local` block of
 * `cdk.json`. Everything is validated with the app's own zod schema, so a value that would stop `cdk synth`
 * stops `npm start` too, with the same key in the message.
 */

export interface LocalConfig {
  config: CronofyConfig;
  secrets: Secrets;
}

/** Environment variable → the `cronofy.*` key it overrides. */
const OVERRIDES = {
  CRONOFY_DATA_CENTER: 'dataCenter',
  CRONOFY_REDIRECTS: 'redirects',
  CRONOFY_PUBLIC_LINKS: 'publicLinks',
  CRONOFY_CLIENT_SECRETS: 'local.clientSecrets',
  CRONOFY_EMBED_PUBLIC_KEY: 'local.embedPublicKey',
  CRONOFY_EMBED_SECRET: 'local.embedSecret',
  CRONOFY_API_CREDENTIAL: 'local.apiCredential',
} as const;
type OverrideVariable = keyof typeof OVERRIDES;

const CDK_JSON = new URL('../cdk.json', import.meta.url);

/** The `cronofy` context of cdk.json as it is written (not validated); {} when there is none. */
export function readCdkContext(path: URL | string = CDK_JSON): Record<string, unknown> {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const file = path instanceof URL ? fileURLToPath(path) : path;
    throw new ConfigError(`Cannot read ${file}: ${(error as Error).message}`);
  }
  const cronofy = (document as { context?: { cronofy?: unknown } })?.context?.cronofy;
  if (cronofy === undefined) return {};
  if (typeof cronofy !== 'object' || cronofy === null || Array.isArray(cronofy)) {
    throw new ConfigError('Invalid configuration in cdk.json context:\n  cronofy: must be an object');
  }
  return { ...(cronofy as Record<string, unknown>) };
}

function jsonObject(variable: OverrideVariable, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfigError(
      `Invalid configuration in the environment:\n  ${variable} (cronofy.${OVERRIDES[variable]}): must be a JSON object, e.g. '{"time_chosen":"https://…"}'`,
    );
  }
}

/** Keys of `cronofy` that only a deployment uses (infra/app.ts validates them); local mode ignores them. */
export const DEPLOYMENT_ONLY_KEYS = ['secretArn', 'alarmEmails'] as const;

export function loadLocalConfig(
  env: NodeJS.ProcessEnv = process.env,
  cdkJsonPath: URL | string = CDK_JSON,
): LocalConfig {
  const raw = readCdkContext(cdkJsonPath);
  for (const key of DEPLOYMENT_ONLY_KEYS) delete raw[key];
  const used: OverrideVariable[] = [];
  const value = (variable: OverrideVariable): string | undefined => {
    const text = env[variable];
    if (text === undefined || text === '') return undefined;
    used.push(variable);
    return text;
  };

  const dataCenter = value('CRONOFY_DATA_CENTER');
  if (dataCenter !== undefined) raw.dataCenter = dataCenter.trim();
  const redirects = value('CRONOFY_REDIRECTS');
  if (redirects !== undefined) raw.redirects = jsonObject('CRONOFY_REDIRECTS', redirects);
  const publicLinks = value('CRONOFY_PUBLIC_LINKS');
  if (publicLinks !== undefined) raw.publicLinks = jsonObject('CRONOFY_PUBLIC_LINKS', publicLinks);

  const fileSecrets = (typeof raw.local === 'object' && raw.local !== null ? raw.local : {}) as Record<
    string,
    unknown
  >;
  const clientSecrets = value('CRONOFY_CLIENT_SECRETS');
  const embedPublicKey = value('CRONOFY_EMBED_PUBLIC_KEY');
  const embedSecret = value('CRONOFY_EMBED_SECRET');
  const apiCredential = value('CRONOFY_API_CREDENTIAL');
  raw.local = {
    ...fileSecrets,
    ...(clientSecrets === undefined
      ? {}
      : {
          clientSecrets: clientSecrets
            .split(',')
            .map((secret) => secret.trim())
            .filter((secret) => secret !== ''),
        }),
    ...(embedPublicKey === undefined ? {} : { embedPublicKey }),
    ...(embedSecret === undefined ? {} : { embedSecret }),
    ...(apiCredential === undefined ? {} : { apiCredential }),
  };
  if (Object.keys(raw.local as object).length === 0) delete raw.local;

  // Organization Connect works against the fake with no setting at all.
  raw.clientId ??= LOCAL_CLIENT_ID;

  let config: CronofyConfig;
  try {
    config = parseConfig(raw, used.length > 0 ? `cdk.json context and the environment` : 'cdk.json context');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Point at the variable as well as the key when the wrong value came from the environment.
    const notes = used
      .filter((variable) => error.message.includes(`cronofy.${OVERRIDES[variable]}`))
      .map((variable) => `(cronofy.${OVERRIDES[variable]} was set by the environment variable ${variable})`);
    throw new ConfigError([error.message, ...notes].join('\n  '));
  }
  const secrets = config.local;
  if (!secrets) {
    throw new ConfigError(
      'Invalid configuration in cdk.json context:\n  cronofy.local: local mode needs development secrets; ' +
        'set them in cdk.json (cronofy.local) or with CRONOFY_CLIENT_SECRETS, CRONOFY_EMBED_PUBLIC_KEY and CRONOFY_EMBED_SECRET',
    );
  }
  return {
    config,
    secrets: {
      clientSecrets: secrets.clientSecrets,
      embedPublicKey: secrets.embedPublicKey,
      embedSecret: secrets.embedSecret,
      // The bearer the handlers send to the Cronofy fake, and the one the fake accepts (start.ts).
      ...(secrets.apiCredential === undefined ? {} : { apiCredential: secrets.apiCredential }),
    },
  };
}
