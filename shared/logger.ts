import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Logger } from './ports.ts';

/**
 * Structured JSON logs (Powertools Logger: Lambda context, sampling, `LOG_LEVEL`). Callers pass identifiers
 * as fields, never payloads: bodies hold names, emails and phone numbers.
 */
export function createLogger(serviceName: string): Logger {
  const logger = new PowertoolsLogger({ serviceName });
  return {
    debug: (message, fields) => logger.debug(message, fields ?? {}),
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    error: (message, fields) => logger.error(message, fields ?? {}),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
