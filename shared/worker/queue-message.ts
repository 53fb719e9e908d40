import * as z from 'zod/mini';
import { ENVELOPE_VERSION } from '../envelope.ts';

/** The queue message written by the ingest function (shared/envelope.ts), as the worker reads it. */

export const envelopeSchema = z.object({
  v: z.literal(ENVELOPE_VERSION),
  /** Idempotency key: `Cronofy-Notification-ID`, else `sha256:<hex of the raw body>`. */
  key: z.string().check(z.minLength(1), z.maxLength(512)),
  /** When the ingest function accepted the request (ISO 8601, milliseconds). */
  receivedAt: z.iso.datetime(),
  /** The raw body: UTF-8 text when it was valid UTF-8, otherwise base64 of the bytes. */
  encoding: z.enum(['utf8', 'base64']),
  body: z.string(),
});

export type Envelope = z.infer<typeof envelopeSchema>;

export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
}

export function decodeEnvelope(message: string): Envelope {
  let raw: unknown;
  try {
    raw = JSON.parse(message);
  } catch {
    throw new EnvelopeError('queue message is not JSON');
  }
  const parsed = envelopeSchema.safeParse(raw);
  if (!parsed.success)
    throw new EnvelopeError(`queue message is not a notification envelope: ${parsed.error.message}`);
  return parsed.data;
}
