import { secretFromEnv } from '#shared/contract/env.ts';
import type { SecretsProvider } from '#shared/core/ports.ts';
import { SignedSecretsManagerSecrets } from './signed-secrets.ts';

/**
 * What-if stand-in for `#shared/aws/secrets.ts` as functions/ingest/handler.ts uses it: the same
 * `secretsManagerFromEnv`, reading the secret with one signed request instead of the SDK client.
 */
export function secretsManagerFromEnv(env: NodeJS.ProcessEnv = process.env): SecretsProvider {
  const { secretArn, cacheSeconds } = secretFromEnv(env);
  return new SignedSecretsManagerSecrets(secretArn, cacheSeconds * 1000);
}
