import { encodeEnvelope, idempotencyKey } from '../../shared/envelope.ts';
import type { QueueMessage } from '../../shared/worker/process.ts';

let sequence = 0;

/** A queue message as the ingest function would write it for this body. */
export function queueMessage(
  body: string | Uint8Array,
  options: { notificationId?: string; receivedAt?: Date } = {},
): QueueMessage & { key: string } {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const key = idempotencyKey(options.notificationId, bytes);
  sequence++;
  return {
    messageId: `msg-${sequence}`,
    key,
    body: encodeEnvelope(key, bytes, options.receivedAt ?? new Date('2026-11-23T10:00:00.000Z')),
  };
}
