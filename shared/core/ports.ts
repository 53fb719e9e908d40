import type { StateWrite, StateWriteResult } from '../contract/ordering.ts';
import type { EventTriggerRecord, NotificationRecord } from '../contract/records.ts';

/** The narrow interfaces domain code depends on. AWS adapters live in `shared/aws/`; tests pass fakes. */

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export type Clock = () => Date;

export interface Secrets {
  /** Every active Cronofy client secret (more than one while a secret is being rotated). */
  clientSecrets: readonly string[];
  /** Embed public key (`EMB_…`), the issuer of claim and embed tokens. */
  embedPublicKey: string;
  /** Embed secret (`ESK_…`), the HS256 key of claim and embed tokens. */
  embedSecret: string;
  /**
   * Bearer credential for Cronofy's API (an Organizational Unit access token or an Internal Application's
   * client secret); when absent, callers of the API use the first client secret.
   */
  apiCredential?: string;
}

export interface SecretsProvider {
  get(): Promise<Secrets>;
}

export interface NotificationQueue {
  /** Resolves once the message is durably stored; rejects with QueueUnavailableError otherwise. */
  send(message: string): Promise<void>;
}

export type { StateWrite, StateWriteResult } from '../contract/ordering.ts';

/** Per notification record: written, already there (a duplicate), or the error that stopped it. */
export type NotificationWriteResult = 'created' | 'exists' | Error;

/** A write DynamoDB refused because of the values in it (not a fault worth retrying). */
export class StorageRejectedError extends Error {
  override readonly name = 'StorageRejectedError';
}

export interface RecordStore {
  /**
   * Apply a notification to a state record under the ordering model (shared/contract/ordering.ts): each aspect
   * only where the notification is not older, a body already applied never again. Throws
   * StorageRejectedError when DynamoDB refuses the values.
   */
  applyState(write: StateWrite): Promise<StateWriteResult>;
  /** Create an Event Trigger record; `already_applied` when it exists. */
  putEventTrigger(pk: string, record: EventTriggerRecord): Promise<'applied' | 'already_applied'>;
  /**
   * Create notification records, all of a batch in one round trip; one result per record, in order. A
   * second write for the same key is a no-op (`exists`), except that a record kept as `unparseable` /
   * `unknown_type` is replaced by a replay whose outcome differs (ops `replay`). A failed record does not
   * fail the others.
   */
  putNotifications(records: readonly NotificationRecord[]): Promise<NotificationWriteResult[]>;
  /** The status of each notification record that exists among `keys` (a strongly consistent read). */
  notificationStatuses(keys: readonly string[]): Promise<Map<string, string>>;
}

/**
 * The bearer credential for Cronofy's API. `tenant` is for per-tenant credentials (Organization Connect
 * access tokens); the single-tenant provider ignores it. `invalidate` (optional) is called when Cronofy
 * rejects a credential, so a provider that can refresh one does so before the single retry.
 */
export interface CredentialProvider {
  get(tenant?: string): Promise<string>;
  invalidate?(tenant?: string): void;
}
