import type { Item, StateWrite, StateWriteResult } from '../contract/ordering.ts';
import type { EventTriggerRecord, NotificationRecord, RedirectRecord } from '../contract/records.ts';

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
  /**
   * The status of each notification record that exists among `keys` (their partition keys, `notificationKey`
   * of shared/contract/keys.ts), by key (a strongly consistent read).
   */
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

/**
 * What the notification route of a tenant (`POST /cronofy/notifications/{tenant_id}`) needs to know about it:
 * the client secrets of the Internal Application the customer created in its own OU. `undefined` for a tenant
 * that is not registered (or was offboarded), which the route answers exactly like a bad signature.
 * Adapter: shared/aws/tenant-store.ts.
 */
export interface TenantDirectory {
  clientSecrets(tenantId: string): Promise<readonly string[] | undefined>;
}

// Stores of the recipient and scheduling use cases (adapters: shared/aws/redirect-store.ts, scheduling-store.ts,
// reconcile-store.ts).

/** Persists the `redirect` record. */
export interface RedirectStore {
  putRedirect(record: RedirectRecord): Promise<void>;
}

export interface CreatedRequest {
  scheduling_request_id: string;
  /** Cronofy's `primary_select_url`, as returned. */
  select_url: string;
  dashboard_url?: string;
  /** The metadata given (`correlation_id`, `utm_*`): appended to the link, and kept on the record. */
  metadata: Record<string, string>;
  /** The tenant whose Organizational Unit it was created in; absent for the deployment's own. */
  tenant_id?: string;
  created_at: string;
}

/** An idempotency item as the store returns it. */
export interface IdempotencyState {
  status: 'in_progress' | 'created' | 'completed';
  fingerprint: string;
  /** Which attempt holds the item; a retry takes it over only from the token it read. */
  token: string;
  /** Milliseconds since the epoch after which an `in_progress` attempt counts as crashed. */
  leaseUntil: number;
  created?: CreatedRequest;
}

export interface IdempotencyStore {
  /** Create the item unless it exists (and has not expired); otherwise return it. */
  begin(
    scope: string,
    item: {
      fingerprint: string;
      token: string;
      leaseUntil: number;
      createdAt: string;
      expiresAt: number;
      /** Kept on the item, so that purging the tenant's records removes it too. */
      tenantId?: string;
    },
  ): Promise<{ started: true } | { started: false; existing: IdempotencyState }>;
  get(scope: string): Promise<IdempotencyState | undefined>;
  /** Take over an `in_progress` item whose lease ran out; false when someone else did. */
  takeOver(scope: string, fromToken: string, toToken: string, leaseUntil: number): Promise<boolean>;
  /** Cronofy's answer, written right after it arrives (conditional on the attempt's token). */
  saveCreated(scope: string, token: string, created: CreatedRequest): Promise<void>;
  complete(scope: string): Promise<void>;
  /** Forget an attempt that failed before Cronofy created anything, so a retry calls Cronofy again. */
  release(scope: string, token: string): Promise<void>;
}

export interface SchedulingRequestStore {
  /**
   * The `pending` record of a request just created. It never sets the lifecycle's ordering time, and it never
   * changes the status of a record a notification wrote first: a `pending` record cannot make a later
   * notification stale, whatever the clocks say.
   */
  recordCreated(created: CreatedRequest, now: string): Promise<void>;
  /** The `tenant_id` of the request's record (strongly consistent); undefined without a record or a tenant. */
  tenantOf(id: string): Promise<string | undefined>;
  /** `cancelled`, as a lifecycle write timed at `at` (when Cronofy accepted the cancel). */
  /** Records the cancel at `at`, unless the record is already cancelled; returns its `cancelled_at`. */
  recordCancelled(id: string, at: string): Promise<string>;
}

export interface ReconcileStore {
  /** Ids of open requests whose event has not ended, soonest end first, at most `limit`. */
  openRequests(now: string, limit: number): Promise<string[]>;
  /** Take requests whose event ended before `now` out of the index of open requests (state untouched). */
  closeEnded(now: string, limit: number): Promise<string[]>;
  /** The current records (strongly consistent), by id. */
  records(ids: readonly string[]): Promise<Map<string, Item>>;
  /**
   * Apply `build(current)` under the ordering model, re-reading and re-building when the record changed
   * meanwhile; sets `reconciled_at` whatever the outcome. `unchanged` when `build` returns nothing, and when
   * the record read as `current` has been deleted since (a tenant purge): it is not brought back.
   */
  reconcile(
    id: string,
    current: Item | undefined,
    build: (current: Item | undefined) => StateWrite | undefined,
    reconciledAt: string,
  ): Promise<'applied' | 'unchanged' | 'stale'>;
}

/** One event to put on the bus (PutEvents' entry): `detail` is JSON text. */
export interface BusEntry {
  source: string;
  detailType: string;
  detail: string;
  /** ISO 8601; the bus keeps it to the second. */
  time: string;
}

export interface EventPublisher {
  /**
   * Puts the entries (at most PUT_EVENTS_MAX_ENTRIES) in one request. Resolves with one answer per entry, in
   * order: `undefined` when it was put, else the bus's error code for it. Rejects when the request failed as a
   * whole.
   */
  put(entries: readonly BusEntry[]): Promise<Array<string | undefined>>;
}
