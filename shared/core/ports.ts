import type { Item, StateWrite, StateWriteResult } from '../contract/ordering.ts';
import type { EventTriggerRecord, NotificationRecord, RedirectRecord } from '../contract/records.ts';
import type { TenantStatus } from '../contract/tenants.ts';

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
   * meanwhile; sets `reconciled_at` with a change only. `unchanged` when `build` returns nothing or a write
   * that changes nothing (then nothing is written), and when the record read as `current` has been deleted since
   * (a tenant purge): it is not brought back.
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

// Tenants: the store of their registrations, Organization Connect credentials and OAuth states (adapter:
// shared/aws/tenant-store.ts, a table of its own, so nothing of it reaches the records table's stream).

/**
 * Client-side encryption of one value, bound to its tenant and field (`context`): a ciphertext moved to another
 * tenant's item, or to another field, does not decrypt. Adapters: shared/aws/kms-cipher.ts (KMS in AWS, AES-GCM
 * locally).
 */
export interface Cipher {
  encrypt(plaintext: string, context: CipherContext): Promise<string>;
  /** Throws when the ciphertext was not made for this context (or was tampered with). */
  decrypt(ciphertext: string, context: CipherContext): Promise<string>;
}
export interface CipherContext {
  tenant_id: string;
  field: 'access_token' | 'refresh_token' | 'client_secrets';
}

/** A tenant as stored, secrets left out. Times are ISO 8601. */
export interface TenantItem {
  tenantId: string;
  name: string;
  status: TenantStatus;
  clientSecretsCount: number;
  createdAt: string;
  updatedAt: string;
  connectedAt?: string;
  disconnectedAt?: string;
  /** Set by offboarding (DELETE); a PUT registers the tenant again and clears it. */
  offboardedAt?: string;
  /** The last offboarding, kept by a PUT: OAuth states handed out before it never connect the tenant. */
  lastOffboardedAt?: string;
}

/** A tenant's Organization Connect tokens, decrypted. `generation` grows by one with every refresh. */
export interface TenantCredential {
  tenantId: string;
  accessToken: string;
  refreshToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  generation: number;
  /**
   * Which authorization (Organization Connect consent) the tokens belong to: new at each `connect`, kept by its
   * refreshes. Absent on credentials stored before it was recorded.
   */
  connectionId?: string;
  /**
   * The Organizational Unit's id Cronofy's token answer carried (`sub`), kept by refreshes unless one carries
   * another; absent when no answer carried one (UNCONFIRMED that Cronofy sends it) or stored before it was kept.
   */
  sub?: string;
  /** Milliseconds since the epoch until which a refresh holds the lease; absent when none does. */
  leaseUntil?: number;
  /** Cronofy refused a refresh of this generation once, by a refresher that had taken over an expired lease. */
  refusedOnce?: boolean;
}

/** Tokens as a consent or a refresh leaves them, to be stored. */
export interface StoredTokens {
  accessToken: string;
  refreshToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** The OU's id, when Cronofy's answer carried one; a refresh without it keeps the stored one. */
  sub?: string;
}

/** What must still hold when a consent's tokens are stored (TenantStore.connect), checked in the same write. */
export interface ConnectConditions {
  /** The credential is still at this generation (`undefined`: there is none); absent: whatever is there. */
  expected?: { generation: number | undefined };
  /**
   * When the OAuth state was handed out (ms since the epoch): the tenant has not been offboarded since, even if it was
   * registered again (an offboarding ends the connect URLs handed out before it).
   */
  stateIssuedAt?: number;
  /**
   * The generation of the credential read before (if any): the new one is stored above it and above `expected`,
   * whatever the clock says, so no refresher that read the replaced credential can pass it for the new one (take
   * its lease, disconnect it) when the two fall in one millisecond or the writer's clock lags.
   */
  after?: number;
}

export interface TenantStore {
  /**
   * Create the tenant (`registered`) or update it; `clientSecrets` undefined leaves them, `name` undefined
   * leaves it (an update only: undefined when there is no such tenant). Returns the item and whether it was
   * created.
   */
  putTenant(
    tenantId: string,
    change: { name?: string; clientSecrets?: readonly string[] },
    now: string,
  ): Promise<{ tenant: TenantItem; created: boolean } | undefined>;
  getTenant(tenantId: string): Promise<TenantItem | undefined>;
  listTenants(cursor: string | undefined, limit: number): Promise<{ tenants: TenantItem[]; cursor?: string }>;
  /** The decrypted client secrets of a registered tenant that was not offboarded; undefined otherwise. */
  tenantClientSecrets(tenantId: string): Promise<readonly string[] | undefined>;

  /**
   * Keep an OAuth state (by its hash) for a tenant, handed out at `issuedAt` (ms since the epoch), until `expiresAt`
   * (epoch seconds).
   */
  putOAuthState(stateHash: string, tenantId: string, expiresAt: number, issuedAt: number): Promise<void>;
  /**
   * Delete the state and return its tenant and when it was handed out (ms since the epoch; 0 when not recorded), if it
   * existed and has not expired: one caller ever gets it.
   */
  takeOAuthState(
    stateHash: string,
    nowSeconds: number,
  ): Promise<{ tenantId: string; issuedAt: number } | undefined>;

  /**
   * Keep new tokens (encrypted, a new `connectionId`) and mark the tenant `connected`, unless it is unknown or
   * offboarded, or a condition of `conditions` fails: then false, and nothing changed.
   */
  connect(
    tenantId: string,
    tokens: StoredTokens,
    now: string,
    conditions?: ConnectConditions,
  ): Promise<boolean>;
  /** The credential (strongly consistent), decrypted; undefined when the tenant has none. */
  getCredential(tenantId: string): Promise<TenantCredential | undefined>;
  /** The credential's generation only (strongly consistent, nothing decrypted); undefined when there is none. */
  credentialGeneration(tenantId: string): Promise<number | undefined>;
  /** Take the refresh lease of `generation`, if nobody holds an unexpired one: true when taken. */
  takeRefreshLease(
    tenantId: string,
    generation: number,
    leaseToken: string,
    nowMs: number,
    leaseUntil: number,
  ): Promise<boolean>;
  /**
   * Keep refreshed tokens (generation + 1) and free the lease, if the credential is still at `generation` (nobody
   * saved a newer one, reconnected or removed it), whoever holds the lease now: a refresher that outlived its
   * lease still keeps what Cronofy answered it (its refresh token may be the only valid one left). A `sub`
   * replaces the stored one; without one, the stored one stays.
   */
  saveRefreshed(tenantId: string, generation: number, tokens: StoredTokens): Promise<boolean>;
  /**
   * Cronofy refused the refresh of a refresher that had taken over an expired lease: mark the credential
   * `refusedOnce` and hold the lease until `leaseUntil`, if `leaseToken` holds it, so the overtaken refresher
   * has that long to save before anyone may disconnect the tenant. False when the lease is not `leaseToken`'s.
   */
  deferRefusal(tenantId: string, leaseToken: string, leaseUntil: number): Promise<boolean>;
  /** Free the lease (a refresh that could not reach Cronofy), if `leaseToken` holds it. */
  releaseRefreshLease(tenantId: string, leaseToken: string): Promise<void>;
  /**
   * Cronofy refused the refresh: forget the credential and mark the tenant `disconnected`, only if `leaseToken`
   * still holds the lease (a reconnect meanwhile wins). True when it did.
   */
  disconnect(tenantId: string, leaseToken: string, now: string): Promise<boolean>;
  /**
   * Offboarding: forget the credential and the tenant's client secrets, mark it `disconnected`. With `expected`,
   * only if the credential is still the one read (`generation`; undefined: there was none), so the refresh token
   * revoked afterwards is the last one it held (a refresh may have replaced it since the read), and only if no
   * other offboarding came first (its times stay): false when either was not so. Without, whatever it holds.
   */
  offboard(tenantId: string, now: string, expected?: { generation: number | undefined }): Promise<boolean>;
}
