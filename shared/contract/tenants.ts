/**
 * Tenants (an integrator's customer companies, each with its own Cronofy Organizational Unit): the names
 * every part of the system shares. Imports nothing, so the ingest bundle and downstream consumers can use it.
 */

/** The integrator's own id for a customer: 1–64 characters of `A–Z a–z 0–9 . _ -`. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

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
