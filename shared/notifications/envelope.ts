import { sha256Hex } from '../contract/keys.ts';
import { SQS_MESSAGE_MAX_BYTES } from '../contract/limits.ts';

/**
 * The queue message the ingest function writes and the worker reads: the raw body exactly as received,
 * plus what the worker could not learn later (time of receipt, the `Cronofy-Notification-ID` header).
 * Encoding lives here, on the ingest path, with no zod; the schema and decoding are the worker's
 * (queue-message.ts).
 */

/** Version 2 carries the header id for tracing; the idempotency key is always the body's digest. */
export const ENVELOPE_VERSION = 2;

/**
 * Version 3: a notification that arrived at a tenant URL, with its tenant and which secret verified it. Only
 * those messages use it, so the shared URL's messages stay readable by a worker that predates tenants, and a
 * worker that predates them refuses a tenant's message (to the dead-letter queue, redrivable) rather than
 * applying it as if the application had signed it.
 */
export const TENANT_ENVELOPE_VERSION = 3;

/** Which secret verified a tenant URL's notification: one of the application's, or only one of the tenant's. */
export type SignedBy = 'application' | 'tenant';

/** Longest `Cronofy-Notification-ID` kept (for tracing only); a longer value is not kept. */
export const MAX_HEADER_ID_LENGTH = 256;

/**
 * The idempotency key: `sha256:<hex of SHA-256 of the raw body>`, always. The `Cronofy-Notification-ID`
 * header is not covered by the signature, so anyone holding one signed body could replay it under fresh ids;
 * the digest makes every delivery of the same bytes the same notification.
 */
export function idempotencyKey(body: Uint8Array): string {
  return `sha256:${sha256Hex(body)}`;
}

/** The header value worth keeping for tracing: trimmed, printable ASCII, bounded; otherwise none. */
export function traceableHeaderId(value: string | undefined): string | undefined {
  const id = value?.trim();
  if (!id || id.length > MAX_HEADER_ID_LENGTH || !/^[\x21-\x7e]+$/.test(id)) return undefined;
  return id;
}

export interface EnvelopeInput {
  body: Uint8Array;
  receivedAt: Date;
  /** `Cronofy-Notification-ID` as received (kept only when `traceableHeaderId` accepts it). */
  headerId?: string;
  /** Arrived at `POST /cronofy/notifications/{tenant_id}`: that tenant, and what verified the signature. */
  tenant?: { id: string; signedBy: SignedBy };
  /**
   * Put back on the queue by `npm run ops -- replay` (which needs the queue's credentials): only such a message
   * may apply a body its notification record keeps as `unparseable` or `unknown_type`. Ingest never sets it.
   */
  opsReplay?: boolean;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * SQS accepts only #x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF in a message (and some
 * emulators refuse surrogate pairs too): U+FFFE, U+FFFF and every astral character (an emoji in a candidate's
 * answer) travel as JSON `\u` escapes, which the worker's JSON.parse reads back as the same characters.
 */
const SQS_UNSAFE = /[\ud800-\udfff\ufffe\uffff]/g;
function escapeForSqs(json: string): string {
  return json.replace(SQS_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function encodeEnvelope({ body, receivedAt, headerId, tenant, opsReplay }: EnvelopeInput): string {
  const common = {
    v: tenant ? TENANT_ENVELOPE_VERSION : ENVELOPE_VERSION,
    receivedAt: receivedAt.toISOString(),
    ...(traceableHeaderId(headerId) ? { headerId: traceableHeaderId(headerId) } : {}),
    ...(tenant ? { tenantId: tenant.id, signedBy: tenant.signedBy } : {}),
    ...(opsReplay ? { opsReplay: true } : {}),
  };
  let text: string | undefined;
  try {
    text = strictUtf8.decode(body);
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    const message = escapeForSqs(JSON.stringify({ ...common, encoding: 'utf8', body: text }));
    // JSON escaping can grow text (quotes, backslashes, control characters) past the queue limit. Base64 is
    // bounded; the worker decodes it and still sees valid UTF-8 as text, so nothing about the body changes.
    if (Buffer.byteLength(message) <= SQS_MESSAGE_MAX_BYTES) return message;
  }
  return JSON.stringify({ ...common, encoding: 'base64', body: Buffer.from(body).toString('base64') });
}
