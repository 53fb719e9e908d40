import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import type { Secrets, SecretsProvider } from '../ports.ts';

/** The JSON stored in the Secrets Manager secret (see README, Configuration). */
export const secretDocumentSchema = z.object({
  client_secrets: z.array(z.string().min(1)).min(1),
  embed_public_key: z.string().min(1),
  embed_secret: z.string().min(1),
});

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
    let document: z.infer<typeof secretDocumentSchema>;
    try {
      document = secretDocumentSchema.parse(JSON.parse(text ?? ''));
    } catch {
      // Never include the value in the message.
      throw new SecretsUnavailableError(
        'secret is not JSON of the form {"client_secrets":[…],"embed_public_key":"EMB_…","embed_secret":"ESK_…"}',
      );
    }
    const value: Secrets = {
      clientSecrets: document.client_secrets,
      embedPublicKey: document.embed_public_key,
      embedSecret: document.embed_secret,
    };
    this.cached = { value, expires: this.now() + this.ttlMs };
    return value;
  }
}

export function secretsManagerFromEnv(env: NodeJS.ProcessEnv = process.env): SecretsProvider {
  const secretId = env.SECRET_ARN;
  if (!secretId) throw new Error('SECRET_ARN is not set');
  const ttlSeconds = Number(env.SECRETS_CACHE_SECONDS ?? '300');
  return new SecretsManagerSecrets(new SecretsManagerClient({}), secretId, ttlSeconds * 1000);
}

/** Local mode and tests: secrets handed over directly (from cdk.json `local` or the environment). */
export class StaticSecrets implements SecretsProvider {
  constructor(private readonly secrets: Secrets) {}
  get(): Promise<Secrets> {
    return Promise.resolve(this.secrets);
  }
}
