import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretFromEnv } from '../contract/env.ts';
import type { Secrets, SecretsProvider } from '../core/ports.ts';

const SECRET_FORMAT =
  '{"client_secrets":["CRN_…"],"embed_public_key":"EMB_…","embed_secret":"ESK_…","api_credential":"… (optional)"}';

const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/**
 * The JSON stored in the Secrets Manager secret (README, Configuration). Checked by hand rather than with
 * zod: this module is on the ingest path, whose bundle size is its cold start (see the benchmarks).
 */
export function parseSecretDocument(text: string | undefined): Secrets {
  let document: Record<string, unknown>;
  try {
    document = JSON.parse(text ?? '');
  } catch {
    document = {};
  }
  const secrets = document?.client_secrets;
  if (
    !Array.isArray(secrets) ||
    secrets.length === 0 ||
    !secrets.every(isNonEmptyString) ||
    !isNonEmptyString(document.embed_public_key) ||
    !isNonEmptyString(document.embed_secret)
  ) {
    // Never include the value in the message.
    throw new SecretsUnavailableError(`secret is not JSON of the form ${SECRET_FORMAT}`);
  }
  // Optional. A malformed one is left out rather than failing the whole document: the ingest path reads the
  // same secret and must keep accepting notifications; Cronofy then rejects the fallback credential, which
  // the API's callers report as CredentialRejectedError.
  const apiCredential = isNonEmptyString(document.api_credential) ? document.api_credential : undefined;
  return {
    clientSecrets: secrets,
    embedPublicKey: document.embed_public_key,
    embedSecret: document.embed_secret,
    ...(apiCredential === undefined ? {} : { apiCredential }),
  };
}

export class SecretsUnavailableError extends Error {
  override readonly name = 'SecretsUnavailableError';
}

/**
 * Reads the secret at run time and keeps it for `ttlMs`, so a rotation reaches every warm function within
 * that time without a redeploy. Concurrent callers share one in-flight read; a failed read is not cached.
 */
export class SecretsManagerSecrets implements SecretsProvider {
  private cached: { value: Secrets; expires: number } | undefined;
  private inFlight: Promise<Secrets> | undefined;

  constructor(
    private readonly client: Pick<SecretsManagerClient, 'send'>,
    private readonly secretId: string,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<Secrets> {
    if (this.cached && this.cached.expires > this.now()) return Promise.resolve(this.cached.value);
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async load(): Promise<Secrets> {
    let text: string | undefined;
    try {
      const result = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
      text = result.SecretString;
    } catch (error) {
      throw new SecretsUnavailableError(`cannot read secret: ${(error as Error).name}`);
    }
    const value = parseSecretDocument(text);
    this.cached = { value, expires: this.now() + this.ttlMs };
    return value;
  }
}

export function secretsManagerFromEnv(env: NodeJS.ProcessEnv = process.env): SecretsProvider {
  const { secretArn, cacheSeconds } = secretFromEnv(env);
  return new SecretsManagerSecrets(new SecretsManagerClient({}), secretArn, cacheSeconds * 1000);
}

/** Local mode and tests: secrets handed over directly (from cdk.json `local` or the environment). */
export class StaticSecrets implements SecretsProvider {
  constructor(private readonly secrets: Secrets) {}
  get(): Promise<Secrets> {
    return Promise.resolve(this.secrets);
  }
}
