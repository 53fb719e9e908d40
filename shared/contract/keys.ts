import { createHash } from 'node:crypto';

/**
 * Table key design and the contract's fixed names, in a module with no package dependencies so every
 * function can import it without pulling in zod or the DynamoDB marshaller.
 */

/** The table's only key attribute: one string partition key per item, `<entity>#<id>`. */
export const PARTITION_KEY = 'pk';

/** DynamoDB TTL attribute (epoch seconds) of the items that expire: notification records, idempotency keys. */
export const TTL_ATTRIBUTE = 'expires_at';

/** The Scheduler Workflows metadata allow-list (https://docs.cronofy.com/developers/scheduler/workflows/). */
export const METADATA_KEYS = [
  'correlation_id',
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_term',
  'utm_content',
] as const;

/**
 * Longest id (in UTF-8 bytes) used in a key as it is. DynamoDB allows 2,048 bytes for a partition key; a
 * longer id (Cronofy's are short, but a signed body may hold anything) is keyed by its digest instead, and
 * the record keeps the full id as a plain attribute.
 */
export const MAX_KEY_ID_BYTES = 1024;

export const sha256Hex = (data: string | Uint8Array): string =>
  createHash('sha256').update(data).digest('hex');

/** `String.prototype.toWellFormed` (Node 20+; the ES2024 typings are not in this project's lib). */
export const wellFormed = (text: string): string =>
  (text as unknown as { toWellFormed(): string }).toWellFormed();

/** No lone UTF-16 surrogates (`String.prototype.isWellFormed`, Node 20+). */
export const isWellFormed = (text: string): boolean =>
  (text as unknown as { isWellFormed(): boolean }).isWellFormed();

/**
 * `id` itself when it fits in a key and is well-formed UTF-16, else `sha256:<hex>` of it. An id that itself
 * starts with `sha256:` is always digested, so no id can take the key of a long one. Two ids never share a key:
 * a key is a UTF-8 string, so text with a lone surrogate (which would become U+FFFD, and so the key of another
 * id) is digested from its UTF-16 code units behind a 0xFF byte, which no UTF-8 text contains.
 */
export function keyPart(id: string): string {
  if (!isWellFormed(id))
    return `sha256:${sha256Hex(Buffer.concat([Buffer.from([0xff]), Buffer.from(id, 'utf16le')]))}`;
  return Buffer.byteLength(id) <= MAX_KEY_ID_BYTES && !id.startsWith('sha256:')
    ? id
    : `sha256:${sha256Hex(id)}`;
}

/** `#` separates the parts of a composite key, so it (and the escape character) is escaped inside a part. */
const escapePart = (part: string) => part.replaceAll('%', '%25').replaceAll('#', '%23');

/** What fires an Event Trigger record: one record per event, transition and target time. */
export interface TriggerIdentity {
  eventId: string;
  /** Canonical transition, e.g. `before:event_start:-5` (minutes). */
  transition: string;
  /** The computed target time, or the event time as sent when none can be computed. */
  target: string;
}

/**
 * The prefix of an entity's keys: `<entity>#` for records with no tenant (every key a deployment wrote before
 * tenants existed), `<entity>@<tenant_id>#` for a tenant's. A tenant id has no `#` or `@`
 * (shared/contract/tenants.ts), and no key without a tenant starts with `<entity>@`, so no id can reach
 * another tenant's item, nor an item without a tenant.
 */
const scoped = (entity: string, tenantId: string | undefined) =>
  tenantId === undefined ? `${entity}#` : `${entity}@${tenantId}#`;

/**
 * Partition key of each item; downstream readers never need it, but tools do. Scheduling request ids are
 * Cronofy's, unique across its OUs, so their key has no tenant. Event ids are chosen by integrators and repeat
 * across tenants: a tenant's `event` and `event_trigger` records, and the notification records of what arrived
 * at its URL, are keyed per tenant.
 */
export const keys = {
  schedulingRequest: (id: string) => `scheduling_request#${keyPart(id)}`,
  event: (id: string, tenantId?: string) => `${scoped('event', tenantId)}${keyPart(id)}`,
  eventTrigger: ({ eventId, transition, target }: TriggerIdentity, tenantId?: string) =>
    `${scoped('event_trigger', tenantId)}${keyPart(`${escapePart(eventId)}#${escapePart(transition)}#${escapePart(target)}`)}`,
  notification: (notificationId: string, tenantId?: string) =>
    `${scoped('notification', tenantId)}${notificationId}`,
  redirect: (id: string) => `redirect#${id}`,
} as const;

/**
 * The partition key of a notification record. Per tenant for one only a tenant's own secret verified (`signed_by`
 * `tenant`): the same bytes signed by two tenants' secrets are two notifications, and neither can suppress the
 * other. The body's digest alone for everything the application's secret verified, whatever URL it came to:
 * those bytes are one notification wherever they arrive, so a captured body replayed at another tenant's URL is
 * a duplicate and has no effect (a replay of a signed body, under any header, has none: README, "Receiving notifications").
 */
export function notificationKey(record: {
  notification_id: string;
  tenant_id?: string;
  signed_by?: string;
}): string {
  return keys.notification(
    record.notification_id,
    record.signed_by === 'tenant' ? record.tenant_id : undefined,
  );
}
