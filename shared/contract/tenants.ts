/**
 * Tenants (an integrator's customer companies, each with its own Cronofy Organizational Unit): the names
 * every part of the system shares. Imports nothing, so the ingest bundle and downstream consumers can use it.
 */

/**
 * The integrator's own id for a customer: 1–64 characters of `A–Z a–z 0–9 . _ -`, except `.` and `..`: those are
 * dot-segments, which HTTP clients resolve away in a URL path (RFC 3986 §5.2.4), so the tenant's own routes and
 * notification URL (`…/notifications/..` is `…/`) could never reach it.
 */
export const TENANT_ID_PATTERN = /^(?!\.\.?$)[A-Za-z0-9._-]{1,64}$/;
/** What a tenant id is, for the messages of a 400 and the ops CLI. */
export const TENANT_ID_RULE = '1 to 64 characters of A-Z a-z 0-9 . _ -, not . or ..';

export const isTenantId = (value: unknown): value is string =>
  typeof value === 'string' && TENANT_ID_PATTERN.test(value);

/** A tenant's connection to its Organizational Unit: `registered → connected → disconnected`. */
export const TENANT_STATUSES = ['registered', 'connected', 'disconnected'] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];

/** `reason` of a `notification` record kept as `rejected`. */
export const REJECTION_REASONS = ['tenant_mismatch'] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** The tenants table's key attribute and TTL attribute (shared/aws/tenant-store.ts, infra/definitions.ts). */
export const TENANTS_PARTITION_KEY = 'pk';
export const TENANTS_TTL_ATTRIBUTE = 'expires_at';
