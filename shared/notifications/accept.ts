import { NOTIFICATION_BODY_MAX_BYTES as MAX_BODY_BYTES } from '../contract/limits.ts';
import { LOG_EVENTS } from '../core/log-events.ts';
import type { Clock, Logger, NotificationQueue, SecretsProvider } from '../core/ports.ts';
import { loadSecrets } from '../core/secrets.ts';
import {
  type HttpResult,
  header,
  json,
  PayloadTooLargeError,
  ServiceUnavailableError,
  UNAVAILABLE_MESSAGE,
  UnauthorizedError,
} from '../edge/http.ts';
import { encodeEnvelope, idempotencyKey } from './envelope.ts';
import { verifySignature } from './signature.ts';

/**
 * Accept a Cronofy push notification: verify its signature over the exact bytes received, then enqueue it
 * durably. Nothing here parses the body: a signed body is Cronofy's, and the worker decides what it means.
 */

export interface IngestDeps {
  secrets: SecretsProvider;
  queue: NotificationQueue;
  clock: Clock;
  logger: Logger;
}

export interface IngestRequest {
  headers: Record<string, string | undefined>;
  body: Uint8Array;
}

export const SIGNATURE_HEADER = 'cronofy-hmac-sha256';
export const NOTIFICATION_ID_HEADER = 'cronofy-notification-id';

export async function acceptNotification(request: IngestRequest, deps: IngestDeps): Promise<HttpResult> {
  const { body } = request;
  if (body.byteLength > MAX_BODY_BYTES) {
    deps.logger.warn(LOG_EVENTS.notificationRejectedTooLarge, { bytes: body.byteLength });
    throw new PayloadTooLargeError(MAX_BODY_BYTES);
  }

  const signature = header(request.headers, SIGNATURE_HEADER);
  const secrets = await loadSecrets(deps, UNAVAILABLE_MESSAGE);
  if (!verifySignature(body, signature, secrets.clientSecrets)) {
    // Never log the body or the header values: only what helps tell a misconfiguration from a probe.
    deps.logger.warn(LOG_EVENTS.notificationRejectedSignature, {
      reason: signature ? 'mismatch' : 'missing',
      values: signature ? signature.split(',').length : 0,
      bytes: body.byteLength,
    });
    throw new UnauthorizedError();
  }

  const receivedAt = deps.clock();
  const headerId = header(request.headers, NOTIFICATION_ID_HEADER);
  try {
    await deps.queue.send(encodeEnvelope({ body, receivedAt, headerId }));
  } catch (error) {
    deps.logger.error('notification not enqueued; Cronofy will retry', {
      notificationId: idempotencyKey(body),
      error: (error as Error).message,
    });
    throw new ServiceUnavailableError();
  }
  // Debug only: the worker logs every notification it processes, and SQS counts what was accepted
  // (NumberOfMessagesSent), so an info line here would be one more log line paid for per request. The key
  // is computed only when the line is written.
  deps.logger.debug('notification accepted', { bytes: body.byteLength });
  return json(202, { status: 'accepted' });
}
