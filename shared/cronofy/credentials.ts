import type { CredentialProvider, SecretsProvider } from '../core/ports.ts';

/**
 * The single-tenant credential: the secret's `api_credential` (an Organizational Unit access token or an
 * Internal Application's client secret), else the first client secret. Read through the secrets provider
 * on every call, so a rotation reaches warm functions within the secrets cache time. Never logged.
 *
 * Per-tenant Organization Connect tokens plug in as another CredentialProvider (keyed by `tenant`, with
 * `invalidate` to refresh after a 401) without touching the API client or its callers.
 */
export function secretsCredentialProvider(secrets: SecretsProvider): CredentialProvider {
  return {
    async get() {
      const value = await secrets.get();
      const credential = value.apiCredential ?? value.clientSecrets[0];
      if (!credential)
        throw new Error('no Cronofy API credential: the secret has no api_credential or client secret');
      return credential;
    },
  };
}
