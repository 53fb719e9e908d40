import { NOTIFICATION_BODY_MAX_BYTES as MAX_BODY_BYTES } from '../contract/limits.ts';
import { BodyTooLargeError, UnauthenticatedError, UnavailableError } from '../core/errors.ts';
import { LOG_EVENTS } from '../core/log-events.ts';
import type { Clock, Logger, NotificationQueue, SecretsProvider } from '../core/ports.ts';
import { loadSecrets } from '../core/secrets.ts';
import { encodeEnvelope, idempotencyKey } from './envelope.ts';
import { verifySignature } from './signature.ts';

/**
 * Accept a Cronofy push notification: verify its signature over the exact bytes received, then enqueue it
 * durably. Nothing here parses the body: a signed body is Cronofy's, and the worker decides what it means.
 * Resolves once the notification is queued; throws BodyTooLargeError, UnauthenticatedError or UnavailableError.
 */

export interface IngestDeps {
  secrets: SecretsProvider;
  queue: NotificationQueue;
  clock: Clock;
  logger: Logger;
}

export interface IngestRequest {
  body: Uint8Array;
  /** The `Cronofy-HMAC-SHA256` header as received (one or more comma-separated values). */
  signature: string | undefined;
  /** The `Cronofy-Notification-Id` header, if any. */
  notificationId: string | undefined;
}

const UNAVAILABLE_MESSAGE = 'temporarily unable to accept notifications; retry later';

export async function acceptNotification(request: IngestRequest, deps: IngestDeps): Promise<void> {
  const { body, signature } = request;
  if (body.byteLength > MAX_BODY_BYTES) {
    deps.logger.warn(LOG_EVENTS.notificationRejectedTooLarge, { bytes: body.byteLength });
    throw new BodyTooLargeError(MAX_BODY_BYTES);
  }

  const secrets = await loadSecrets(deps, UNAVAILABLE_MESSAGE);
  if (!verifySignature(body, signature, secrets.clientSecrets)) {
    // Never log the body or the header values: only what helps tell a misconfiguration from a probe.
    deps.logger.warn(LOG_EVENTS.notificationRejectedSignature, {
      reason: signature ? 'mismatch' : 'missing',
      values: signature ? signature.split(',').length : 0,
      bytes: body.byteLength,
    });
    throw new UnauthenticatedError('missing or invalid Cronofy-HMAC-SHA256 signature');
  }

  const receivedAt = deps.clock();
  try {
    await deps.queue.send(encodeEnvelope({ body, receivedAt, headerId: request.notificationId }));
  } catch (error) {
    deps.logger.error('notification not enqueued; Cronofy will retry', {
      notificationId: idempotencyKey(body),
      error: (error as Error).message,
    });
    throw new UnavailableError(UNAVAILABLE_MESSAGE);
  }
  // Debug only: the worker logs every notification it processes, and SQS counts what was accepted
  // (NumberOfMessagesSent), so an info line here would be one more log line paid for per request. The key
  // is computed only when the line is written.
  deps.logger.debug('notification accepted', { bytes: body.byteLength });
}
