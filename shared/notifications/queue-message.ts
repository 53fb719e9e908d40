import * as z from 'zod/mini';
import { normaliseInstant } from '../contract/instant.ts';
import { isTenantId } from '../contract/tenants.ts';
import { isNonEmpty } from './cronofy-schemas.ts';
import { idempotencyKey, type SignedBy, traceableHeaderId } from './envelope.ts';

/** The queue message written by the ingest function (shared/notifications/envelope.ts), as the worker reads it. */

const wireCommon = {
  /**
   * When the ingest function accepted the request, as `Date#toISOString` writes it (UTC, milliseconds): the
   * stored form that orders as text (shared/contract/instant.ts). A refinement rather than `z.iso.datetime()`,
   * which accepts other precisions and brings zod's whole `iso` namespace into the worker bundle (2.3 KB).
   */
  receivedAt: z
    .string()
    .check(
      z.refine((text) => normaliseInstant(text) === text, 'must be a UTC ISO 8601 instant with milliseconds'),
    ),
  /** How `body` carries the raw bytes: as the text itself, or base64 (any bytes). */
  encoding: z.enum(['utf8', 'base64']),
  body: z.string(),
};

/** Version 1 (earlier releases): `key` was the Cronofy-Notification-ID header when one was sent. */
const wireV1 = z.object({
  v: z.literal(1),
  key: z.string().check(z.refine(isNonEmpty, 'must not be empty')),
  ...wireCommon,
});
const wireV2 = z.object({
  v: z.literal(2),
  headerId: z.optional(z.string()),
  /** Written by `npm run ops -- replay` only (shared/notifications/envelope.ts). */
  opsReplay: z.optional(z.literal(true)),
  ...wireCommon,
});
/** Version 3: arrived at a tenant URL (shared/notifications/envelope.ts). */
const wireV3 = z.object({
  v: z.literal(3),
  headerId: z.optional(z.string()),
  tenantId: z.string().check(z.refine(isTenantId, 'must be a tenant id')),
  signedBy: z.enum(['application', 'tenant']),
  opsReplay: z.optional(z.literal(true)),
  ...wireCommon,
});
/**
 * Each version's schema by `v`: only the message's own version is parsed (a union would try each in turn), and
 * `z.discriminatedUnion`, which does the same, would add 1.7 KB to the worker bundle.
 */
const WIRE_VERSIONS = new Map<unknown, typeof wireV1 | typeof wireV2 | typeof wireV3>([
  [1, wireV1],
  [2, wireV2],
  [3, wireV3],
]);

/** What the worker works from, whatever the version and transport encoding of the message. */
export interface Envelope {
  /** `sha256:<hex>` of the raw body: the idempotency key. */
  key: string;
  receivedAt: string;
  /** `Cronofy-Notification-ID` as sent (tracing only). */
  headerId?: string;
  /** The tenant URL's tenant, when it arrived at one (version 3). */
  tenantId?: string;
  /** With `tenantId`: what verified the signature (`tenant`: only the tenant's own secret). */
  signedBy?: SignedBy;
  /** `utf8` whenever the raw bytes are valid UTF-8 (then `body` is that text), else `base64`. */
  encoding: 'utf8' | 'base64';
  body: string;
  /** Put back on the queue by `npm run ops -- replay`: may apply a body kept unparseable or unknown_type. */
  opsReplay?: true;
}

export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function decodeEnvelope(message: string): Envelope {
  let raw: unknown;
  try {
    raw = JSON.parse(message);
  } catch {
    throw new EnvelopeError('queue message is not JSON');
  }
  const schema = WIRE_VERSIONS.get((raw as { v?: unknown } | null)?.v);
  if (!schema) throw new EnvelopeError('queue message is not a notification envelope: no known version');
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    throw new EnvelopeError(`queue message is not a notification envelope: ${parsed.error.message}`);
  const wire = parsed.data;
  const bytes = wire.encoding === 'utf8' ? Buffer.from(wire.body, 'utf8') : Buffer.from(wire.body, 'base64');
  let text: string | undefined;
  if (wire.encoding === 'utf8') text = wire.body;
  else {
    try {
      text = strictUtf8.decode(bytes);
    } catch {
      text = undefined;
    }
  }
  const headerId =
    wire.v === 1 ? (wire.key.startsWith('sha256:') ? undefined : wire.key) : traceableHeaderId(wire.headerId);
  return {
    key: idempotencyKey(bytes),
    receivedAt: wire.receivedAt,
    ...(headerId ? { headerId } : {}),
    ...(wire.v === 3 ? { tenantId: wire.tenantId, signedBy: wire.signedBy } : {}),
    ...(wire.v !== 1 && wire.opsReplay ? { opsReplay: true as const } : {}),
    ...(text === undefined ? { encoding: 'base64', body: wire.body } : { encoding: 'utf8', body: text }),
  };
}
