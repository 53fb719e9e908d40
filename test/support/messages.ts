import type { QueueMessage } from '#shared/notifications/apply.ts';
import { encodeEnvelope, idempotencyKey, type SignedBy } from '#shared/notifications/envelope.ts';

let sequence = 0;

/** A queue message as the ingest function would write it for this body. */
export function queueMessage(
  body: string | Uint8Array,
  options: {
    notificationId?: string;
    receivedAt?: Date;
    tenant?: { id: string; signedBy: SignedBy };
    opsReplay?: boolean;
  } = {},
): QueueMessage & { key: string } {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  sequence++;
  return {
    messageId: `msg-${sequence}`,
    key: idempotencyKey(bytes),
    body: encodeEnvelope({
      body: bytes,
      receivedAt: options.receivedAt ?? new Date('2026-11-23T10:00:00.000Z'),
      headerId: options.notificationId,
      ...(options.tenant ? { tenant: options.tenant } : {}),
      ...(options.opsReplay ? { opsReplay: true } : {}),
    }),
  };
}
