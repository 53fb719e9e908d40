import { randomBytes } from 'node:crypto';
import { NOTIFICATION_BODY_MAX_BYTES as MAX_BODY_BYTES } from '../contract/limits.ts';
import { isTenantId } from '../contract/tenants.ts';
import { BodyTooLargeError, UnauthenticatedError, UnavailableError } from '../core/errors.ts';
import { LOG_EVENTS } from '../core/log-events.ts';
import type { Clock, Logger, NotificationQueue, SecretsProvider, TenantDirectory } from '../core/ports.ts';
import { loadSecrets } from '../core/secrets.ts';
import { encodeEnvelope, idempotencyKey, type SignedBy } from './envelope.ts';
import { hasSignatureShape, verifySignature } from './signature.ts';

/**
 * Accept a Cronofy push notification: verify its signature over the exact bytes received, then enqueue it
 * durably. Nothing here parses the body: a signed body is Cronofy's, and the worker decides what it means.
 * Resolves once the notification is queued; throws BodyTooLargeError, UnauthenticatedError or UnavailableError.
 */

export interface IngestDeps {
  secrets: SecretsProvider;
  queue: NotificationQueue;
  clock: Clock;
  logger: Logger;
  /** The tenants whose URL (`POST /cronofy/notifications/{tenant_id}`) accepts their own secrets; none when absent. */
  tenants?: TenantDirectory;
}

/** A directory that knows no tenant: every tenant URL answers 401. */
export const noTenantsDirectory: TenantDirectory = { clientSecrets: async () => undefined };

export interface IngestRequest {
  body: Uint8Array;
  /** The `Cronofy-HMAC-SHA256` header as received (one or more comma-separated values). */
  signature: string | undefined;
  /** The `Cronofy-Notification-Id` header, if any. */
  notificationId: string | undefined;
  /**
   * The `{tenant_id}` of `POST /cronofy/notifications/{tenant_id}` as received (not yet validated); absent at
   * the shared URL.
   */
  tenantId?: string;
}

const UNAUTHENTICATED_MESSAGE = 'missing or invalid Cronofy-HMAC-SHA256 signature';

/** The most client secrets a tenant can have (the contract's `client_secrets`: 0–4 values). */
const MAX_TENANT_SECRETS = 4;
/**
 * Stand-ins for the secrets a tenant does not have: every tenant URL checks the signature against as many
 * secrets, known tenant or not, so the work done does not tell them apart. Random per process, so no
 * signature can match one.
 */
const DECOY_SECRETS = Array.from({ length: MAX_TENANT_SECRETS }, () => randomBytes(32).toString('base64'));
const padded = (secrets: readonly string[]) => [
  ...secrets,
  ...DECOY_SECRETS.slice(0, Math.max(0, MAX_TENANT_SECRETS - secrets.length)),
];

/**
 * Which secret verified a tenant URL's notification, or undefined (401). An unknown tenant (or a tenant id
 * that cannot be one, which is not even looked up) fails exactly like a bad signature: the same answer after
 * the same checks, so a caller without a valid signature cannot tell a registered tenant from none.
 */
async function verifyForTenant(
  body: Uint8Array,
  signature: string,
  tenantId: string,
  deps: IngestDeps,
): Promise<{ signedBy?: SignedBy; known: boolean }> {
  const [secrets, tenantSecrets] = await Promise.all([
    loadSecrets(deps, UNAVAILABLE_MESSAGE),
    isTenantId(tenantId) ? tenantClientSecrets(tenantId, deps) : undefined,
  ]);
  // Both checks always run, over the same number of secrets (no early exit; see verifySignature).
  const byApplication = verifySignature(body, signature, secrets.clientSecrets);
  const byTenant = verifySignature(body, signature, padded(tenantSecrets ?? []));
  if (tenantSecrets === undefined) return { known: false };
  const signedBy = byApplication ? 'application' : byTenant ? 'tenant' : undefined;
  return { known: true, ...(signedBy ? { signedBy } : {}) };
}

async function tenantClientSecrets(
  tenantId: string,
  deps: IngestDeps,
): Promise<readonly string[] | undefined> {
  try {
    return await (deps.tenants ?? noTenantsDirectory).clientSecrets(tenantId);
  } catch (error) {
    deps.logger.error('tenant secrets unavailable', { error: (error as Error).name });
    throw new UnavailableError(UNAVAILABLE_MESSAGE);
  }
}

const UNAVAILABLE_MESSAGE = 'temporarily unable to accept notifications; retry later';

export async function acceptNotification(request: IngestRequest, deps: IngestDeps): Promise<void> {
  const { body, signature } = request;
  if (body.byteLength > MAX_BODY_BYTES) {
    deps.logger.warn(LOG_EVENTS.notificationRejectedTooLarge, { bytes: body.byteLength });
    throw new BodyTooLargeError(MAX_BODY_BYTES);
  }

  const { tenantId } = request;
  // Nothing about a tenant is looked up for a request that fails anyway (no signature header, or none of its
  // values shaped like one): it fails alike for every tenant id, with no table read or decryption to time.
  let signedBy: SignedBy | undefined;
  let knownTenant = true;
  let malformed = false;
  if (!signature) signedBy = undefined;
  else if (tenantId === undefined) {
    const secrets = await loadSecrets(deps, UNAVAILABLE_MESSAGE);
    signedBy = verifySignature(body, signature, secrets.clientSecrets) ? 'application' : undefined;
  } else if (!hasSignatureShape(signature)) malformed = true;
  else ({ signedBy, known: knownTenant } = await verifyForTenant(body, signature, tenantId, deps));
  if (signedBy === undefined) {
    // Never log the body or the header values: only what helps tell a misconfiguration from a probe. The
    // logs are the operator's, so they may say what the answer does not (an unknown tenant).
    deps.logger.warn(LOG_EVENTS.notificationRejectedSignature, {
      reason: !signature ? 'missing' : malformed ? 'malformed' : knownTenant ? 'mismatch' : 'unknown_tenant',
      values: signature ? signature.split(',').length : 0,
      bytes: body.byteLength,
      ...(tenantId === undefined ? {} : { tenant: isTenantId(tenantId) ? tenantId : 'invalid' }),
    });
    throw new UnauthenticatedError(UNAUTHENTICATED_MESSAGE);
  }

  const receivedAt = deps.clock();
  const tenant = tenantId === undefined ? undefined : { id: tenantId, signedBy };
  try {
    await deps.queue.send(
      encodeEnvelope({ body, receivedAt, headerId: request.notificationId, ...(tenant ? { tenant } : {}) }),
    );
  } catch (error) {
    deps.logger.error('notification not enqueued; Cronofy will retry', {
      notificationId: idempotencyKey(body),
      error: (error as Error).message,
    });
    throw new UnavailableError(UNAVAILABLE_MESSAGE);
  }
  // Debug only: the worker logs every notification it processes, and SQS counts what was accepted
  // (NumberOfMessagesSent), so an info line here would be one more log line paid for per request. The key
  // is computed only when the line is written.
  deps.logger.debug('notification accepted', { bytes: body.byteLength });
}
