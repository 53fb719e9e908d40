import type { SecretsProvider } from '#shared/core/ports.ts';
import { SignedSecretsManagerSecrets } from './signed-secrets.ts';

/**
 * What-if stand-in for `#shared/aws/secrets.ts` as functions/ingest/handler.ts uses it: the same
 * `secretsManagerFromEnv`, reading the secret with one signed request instead of the SDK client.
 */
export function secretsManagerFromEnv(env: NodeJS.ProcessEnv = process.env): SecretsProvider {
  const secretId = env.SECRET_ARN;
  if (!secretId) throw new Error('SECRET_ARN is not set');
  return new SignedSecretsManagerSecrets(secretId, Number(env.SECRETS_CACHE_SECONDS ?? '300') * 1000);
}
