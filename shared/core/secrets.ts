import { UnavailableError } from './errors.ts';
import type { Logger, Secrets, SecretsProvider } from './ports.ts';

/**
 * The secrets, or an UnavailableError saying `unavailableMessage` when they are out of reach: the one
 * "secrets unavailable" block (logged the same way by every function; alarms match the line).
 */
export async function loadSecrets(
  deps: { secrets: SecretsProvider; logger: Logger },
  unavailableMessage: string,
): Promise<Secrets> {
  try {
    return await deps.secrets.get();
  } catch (error) {
    deps.logger.error('secrets unavailable', { error: (error as Error).message });
    throw new UnavailableError(unavailableMessage);
  }
}
