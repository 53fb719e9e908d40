import { createHash } from 'node:crypto';
import type { Envelope } from './worker/queue-message.ts';

/**
 * The queue message the ingest function writes and the worker reads: the raw body exactly as received,
 * plus what the worker needs and could not learn later (idempotency key, time of receipt). Encoding lives
 * here, on the ingest path, with no zod; the schema and decoding are the worker's (worker/queue-message.ts).
 */

/**
 * Largest body accepted, in bytes. A body that is not valid UTF-8 travels base64-encoded (4/3 larger), and
 * the whole message must stay within 256 KiB, the SQS limit every queue (and every emulator) supports.
 */
export const MAX_BODY_BYTES = 190 * 1024;
export const MAX_MESSAGE_BYTES = 256 * 1024;

export const ENVELOPE_VERSION = 1;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function idempotencyKey(notificationIdHeader: string | undefined, body: Uint8Array): string {
  const id = notificationIdHeader?.trim();
  if (id && id.length <= 256) return id;
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

export function encodeEnvelope(key: string, body: Uint8Array, receivedAt: Date): string {
  let text: string | undefined;
  try {
    text = strictUtf8.decode(body);
  } catch {
    text = undefined;
  }
  const envelope: Envelope =
    text === undefined
      ? {
          v: ENVELOPE_VERSION,
          key,
          receivedAt: receivedAt.toISOString(),
          encoding: 'base64',
          body: Buffer.from(body).toString('base64'),
        }
      : { v: ENVELOPE_VERSION, key, receivedAt: receivedAt.toISOString(), encoding: 'utf8', body: text };
  const message = JSON.stringify(envelope);
  // JSON escaping can grow text with many control characters; base64 is bounded, so fall back to it.
  if (envelope.encoding === 'utf8' && Buffer.byteLength(message) > MAX_MESSAGE_BYTES) {
    return JSON.stringify({ ...envelope, encoding: 'base64', body: Buffer.from(body).toString('base64') });
  }
  return message;
}
