/**
 * The ordering model for state records, as pure functions: which aspects of a record a notification may
 * change, and the record that results. The DynamoDB adapter either expresses the common case as one
 * conditional update, or (after a condition fails and DynamoDB returns the current item) calls `mergeState`
 * and writes its result conditioned on the record's `revision`. Tests compare the two.
 *
 * An aspect's time is its `triggered_at` attribute; `*_received_at` (the receipt time) when the notification it
 * shows had none; `*_as_of` when a reconciliation read or an API cancel set it. The record stores only one.
 *
 * A body whose key is in an aspect's `*_applied` list has been applied to it, whatever its time. A body
 * without `triggered_at` has a later receipt time on every delivery, so ordering cannot recognise it: the
 * aspect also remembers the keys of the last few such bodies applied to it (`*_untimed`), which covers a
 * delivery racing its own first one; older ones are recognised by their notification record, which the
 * worker reads first and keeps without expiry (shared/notifications/apply.ts, plan.ts).
 *
 * Each aspect of a record has its own "as of" time:
 * - `lifecycle` (scheduling_request): status, event start/end/summary, metadata, correlation_id,
 *   recipient_tzid;
 * - `participants` (scheduling_request): event host and attendees;
 * - `conferencing` (event): conferencing, start, end, summary.
 * A notification's time is its `triggered_at`, or its receipt time when it has none. An aspect never moves to
 * an older time.
 *
 * A receipt time is weak evidence: it says only that the step happened before it, by any amount. So times are
 * ranked, not just compared: a receipt time (kept in `*_received_at`) ranks below every time that says when
 * something happened: a `triggered_at`, a reconciliation read, a cancel the API recorded (kept in `triggered_at`
 * or `*_as_of`). A notification without `triggered_at` applies over another one only if received later, never
 * over a timed step, a read or a cancel; a timed step applies over a receipt time whatever the two times. The
 * rank is total, so the result does not depend on the order notifications arrive in. Records written before
 * this rule kept receipt times in `*_as_of`: they rank as times (the safe side: no untimed notification applies
 * over them). Equal ranks apply in arrival order, except that a body already applied at that time (its key is
 * in the aspect's `*_applied` list) never applies again. The list holds only the keys applied at the
 * aspect's current time, so a record does not grow with the number of notifications it receives.
 *
 * Reads and steps. A reconciliation read of Cronofy (`StateWrite.fromRead`) is timed at the read and shows a
 * request's values (times, metadata, participants), but not the lifecycle steps that led to them: it cannot
 * tell a decline, nor a reschedule from a first choice. So that a step triggered before the read but delivered
 * after it (Cronofy retrying after an outage, which is when reconciliation finds anything) is not lost, a read
 * keeps in STATUS_AS_OF (STATUS_RECEIVED_AT for a receipt time, ranked alike) the time of the step the record's
 * status shows. A notification older than the
 * lifecycle's time but newer than that step still applies its status step (status, last_notification_type,
 * the open-requests index, a cancel's cancelled_at), never the values the read showed; one at that step's very time applies in
 * arrival order, once (STATUS_APPLIED, as `*_applied` for an aspect). A notification applying the whole
 * lifecycle removes the mark.
 *
 * Values a notification leaves out. A notification may not send every value of an aspect it carries (a
 * `declined` without an event, a participant change without the host). The groups it leaves out keep their own time
 * in VALUES_AS_OF, and a notification older than the aspect but newer than a group's time applies that group's
 * values (never a lifecycle's status), so the end state does not depend on the order of arrival for them either.
 *
 * A write that changes no field of the record (only `updated_at`, `revision`, the lists of applied keys) is no
 * write: `mergeState` answers `applied` without an item (see BOOKKEEPING).
 */

import { isDeepStrictEqual } from 'node:util';
import { isOpenStatus, OPEN_INDEX, openIndexChange, openUntil } from './open-index.ts';

export type AspectName = 'lifecycle' | 'participants' | 'conferencing';

export interface AspectAttributes {
  /**
   * The aspect's ordering time when it is a receipt time (the notification it shows had no `triggered_at`):
   * weak evidence, ranked below every other time (see above).
   */
  receivedAt: string;
  /**
   * The aspect's ordering time (UTC ISO 8601 with milliseconds) when it is neither a `triggered_at` nor a
   * receipt time: the time of a reconciliation read or of a cancel through the API.
   */
  asOf: string;
  /** Applied keys (short form) of the notifications applied at the aspect's time, oldest first, bounded. */
  applied: string;
  /** `notification.triggered_at` of the notification whose values the aspect shows; absent when it had none. */
  triggeredAt: string;
  /** Applied keys of the last MAX_UNTIMED_KEYS notifications without `triggered_at` applied to the aspect. */
  untimed: string;
}

export const ASPECTS: Record<AspectName, AspectAttributes> = {
  lifecycle: {
    receivedAt: 'lifecycle_received_at',
    asOf: 'lifecycle_as_of',
    applied: 'lifecycle_applied',
    triggeredAt: 'triggered_at',
    untimed: 'lifecycle_untimed',
  },
  participants: {
    receivedAt: 'participants_received_at',
    asOf: 'participants_as_of',
    applied: 'participants_applied',
    triggeredAt: 'participants_triggered_at',
    untimed: 'participants_untimed',
  },
  conferencing: {
    receivedAt: 'conferencing_received_at',
    asOf: 'conferencing_as_of',
    applied: 'conferencing_applied',
    triggeredAt: 'triggered_at',
    untimed: 'conferencing_untimed',
  },
};

/** Aspects of each state entity (used to carry ordering over from records of the previous version). */
export const ENTITY_ASPECTS: Record<string, readonly AspectName[]> = {
  scheduling_request: ['lifecycle', 'participants'],
  event: ['conferencing'],
};

/**
 * Distinct bodies applied at one and the same time that a record remembers. Cronofy's times have one-second
 * resolution, so two or three is normal for a burst. Past this bound a new body at that time cannot be told
 * from a forgotten one by the record alone: the merge answers `uncertain` and the worker asks the body's
 * notification record (then writes again with `tieResolved`).
 */
export const MAX_APPLIED_AT_ONE_TIME = 16;

/** Keys of bodies without `triggered_at` an aspect remembers, whatever their time. */
export const MAX_UNTIMED_KEYS = 8;

/**
 * How a key is remembered in `*_applied`: the first 16 hex digits (64 bits) of the body's SHA-256. The lists
 * only tell apart the few bodies applied to one record at one time, where 64 bits cannot collide in
 * practice, and each list costs a quarter of the bytes (a record's size is its write cost).
 */
export function appliedKey(key: string): string {
  return key.startsWith('sha256:') ? key.slice(7, 23) : key;
}

/** Attribute of records written by the previous version: every key ever applied (unbounded). */
export const LEGACY_APPLIED = 'applied_notifications';

/**
 * Time of the lifecycle step a record's `status` shows, kept only after a read showed newer values (see above).
 * STEP_BEFORE_ANY when the status is not from a timed step (a request created through the API, `pending`).
 */
export const STATUS_AS_OF = 'status_as_of';
/** STATUS_AS_OF when the step's time is a receipt time (weak, ranked as an aspect's `*_received_at`). */
export const STATUS_RECEIVED_AT = 'status_received_at';
export const STEP_BEFORE_ANY = '1970-01-01T00:00:00.000Z';
/** Applied keys of the steps applied at STATUS_AS_OF (as `*_applied` for an aspect's time): ties apply once. */
export const STATUS_APPLIED = 'status_applied';

/** Set with `status: cancelled` by the cancel route: part of that step, applied with its status. */
export const CANCELLED_AT = 'cancelled_at';

/** The type of the notification whose lifecycle step `status` shows: part of that step (absent for a cancel). */
export const LAST_NOTIFICATION_TYPE = 'last_notification_type';

/** The record's write counter: every change adds one; the adapter's optimistic writes are conditioned on it. */
export const REVISION = 'revision';

/** The map attribute that lifecycle and participants both write fields into. */
export const EVENT_MAP = 'event';

/**
 * Values a notification may leave out of an aspect it carries (a `declined` or `more_times_requested` without an
 * event, an `event_start` without `user.tzid`, a cancel with none; an `event_participant_status_changed` listing the
 * attendees and not the host): per aspect, groups of top-level attributes and `event` fields.
 */
export const VALUE_GROUPS: Partial<
  Record<AspectName, Record<string, { set: readonly string[]; event: readonly string[] }>>
> = {
  lifecycle: {
    event: { set: [], event: ['start', 'end', 'summary'] },
    metadata: { set: ['metadata', 'correlation_id'], event: [] },
    recipient_tzid: { set: ['recipient_tzid'], event: [] },
  },
  participants: {
    host: { set: [], event: ['host'] },
    attendees: { set: [], event: ['attendees'] },
  },
};

/**
 * Per value group whose values are older than the aspect's time (a notification that set that time left the group
 * out): the rank (see orderRank) of the values the record shows, '' when it shows none. A notification older than
 * the aspect still applies such a group's values when it is newer than them, so the end state does not depend on
 * the order of arrival for values a newer notification left out. Absent for the groups the aspect's own
 * notification sent.
 */
export const VALUES_AS_OF: Partial<Record<AspectName, string>> = {
  lifecycle: 'lifecycle_values_as_of',
  participants: 'participants_values_as_of',
};

/** The value groups of an aspect. */
export const valueGroups = (aspect: AspectName): string[] => Object.keys(VALUE_GROUPS[aspect] ?? {});

/** The value groups an aspect write sends. */
export function sentGroups(write: AspectWrite): string[] {
  if (write.allGroups) return valueGroups(write.aspect);
  return valueGroups(write.aspect).filter((group) => {
    const { set, event } = VALUE_GROUPS[write.aspect]?.[group] ?? { set: [], event: [] };
    return (
      set.some((field) => write.set[field] !== undefined) ||
      event.some((field) => write.event?.[field] !== undefined)
    );
  });
}

export interface AspectWrite {
  aspect: AspectName;
  /** Top-level attributes this aspect sets. */
  set: Record<string, unknown>;
  /** Fields this aspect sets inside the `event` map (which other aspects share). */
  event?: Record<string, unknown>;
  /** Top-level attributes this aspect removes (the open-requests index keys of a request that closed). */
  remove?: readonly string[];
  /**
   * Counts as sending every value group (a cancel through the API: it shows no values, and no older notification's
   * values fill them in after it, so a late booking stays `stale` and the record's events end with the cancel).
   */
  allGroups?: true;
}

export interface StateWrite {
  pk: string;
  /** The notification's idempotency key. */
  key: string;
  /** Ordering time: `triggered_at`, else the receipt time; UTC ISO 8601 with milliseconds. */
  at: string;
  /** `notification.triggered_at`, normalised; absent when the notification had none. */
  triggeredAt?: string;
  /**
   * `at` is the receipt time of a notification without `triggered_at`: weak evidence, ranked below any timed
   * step, read or cancel. Unset for those (a read or a cancel has no `triggeredAt` but a real time).
   */
  receiptTime?: boolean;
  /** Set whenever at least one aspect applies (entity, id, last_notification_type, updated_at). */
  common: Record<string, unknown>;
  aspects: AspectWrite[];
  /** The record probably does not exist yet (a first lifecycle step): try creating it first. */
  likelyNew?: boolean;
  /** The caller checked that this body was never applied: apply a tie that would be `uncertain`. */
  tieResolved?: boolean;
  /** A read of Cronofy's state (reconciliation), not a notification: it shows values, not lifecycle steps. */
  fromRead?: boolean;
  /**
   * The tenant the notification belongs to (the tenant URL it arrived at): set as the record's TENANT when
   * the record has none, never in place of another.
   */
  tenantId?: string;
  /**
   * Only the tenant's own secret verified the signature: the write applies only to a record of that tenant or
   * one it creates. Any other record (another tenant's, or one with no tenant) answers `tenant_mismatch` and
   * is not changed; the check is part of the conditional write.
   */
  tenantOnly?: boolean;
  /** Told the record's tenant, when it has one, whenever the write reached the record (applied or not). */
  onRecordTenant?: (tenantId: string) => void;
}

/** The attribute naming a record's tenant (the contract's `tenant_id`). */
export const TENANT = 'tenant_id';

/**
 * `already_applied`: this body changed the record before (a duplicate or a retry). `uncertain`: a tie past
 * MAX_APPLIED_AT_ONE_TIME bodies at one time; the caller must find out from the notification record.
 * `tenant_mismatch`: a `tenantOnly` write to a record that is not of its tenant; nothing changed.
 */
export type StateWriteResult = 'applied' | 'already_applied' | 'stale' | 'uncertain' | 'tenant_mismatch';

export type Item = Record<string, unknown>;
/** `apply_status`: only the status step of a lifecycle write applies (older than a read's values). */
type Verdict = 'apply' | 'apply_status' | 'already_applied' | 'stale' | 'uncertain';

const asList = (value: unknown): string[] =>
  Array.isArray(value) ? (value as string[]) : value instanceof Set ? [...(value as Set<string>)] : [];

const text = (value: unknown) => (typeof value === 'string' ? value : undefined);

/**
 * A time's rank (see above): receipt times below every other time, each kind in time order. Compare as strings.
 */
export const orderRank = (time: string, receipt: boolean): string => `${receipt ? 'r' : 't'}${time}`;

/** The rank of a write's time. */
export const writeRank = (write: Pick<StateWrite, 'at' | 'receiptTime'>): string =>
  orderRank(write.at, write.receiptTime === true);

/** An aspect's time, its rank and applied keys on a record, reading records of the previous version too. */
export function aspectOrder(
  item: Item | undefined,
  aspect: AspectName,
): { asOf?: string; rank?: string; applied: string[]; untimed: string[] } {
  if (!item) return { applied: [], untimed: [] };
  const attributes = ASPECTS[aspect];
  // Previous version: one clock (`triggered_at`) for the whole record, and every key in one list.
  const legacy = LEGACY_APPLIED in item ? text(item.triggered_at) : undefined;
  const received = text(item[attributes.receivedAt]);
  const asOf = received ?? text(item[attributes.asOf]) ?? text(item[attributes.triggeredAt]) ?? legacy;
  return {
    ...(asOf ? { asOf, rank: orderRank(asOf, received !== undefined) } : {}),
    applied: asList(item[attributes.applied]),
    untimed: asList(item[attributes.untimed]),
  };
}

/** The rank of the step a status shows, when a read kept it ('' for STEP_BEFORE_ANY: below every step). */
function stepRank(item: Item | undefined): string | undefined {
  const received = text(item?.[STATUS_RECEIVED_AT]);
  if (received !== undefined) return orderRank(received, true);
  const asOf = text(item?.[STATUS_AS_OF]);
  if (asOf === undefined) return undefined;
  return asOf === STEP_BEFORE_ANY ? '' : orderRank(asOf, false);
}

/** Keep the step's time in STATUS_AS_OF, or STATUS_RECEIVED_AT when it is a receipt time. */
function setStep(item: Item, time: string, receipt: boolean): void {
  delete item[receipt ? STATUS_AS_OF : STATUS_RECEIVED_AT];
  item[receipt ? STATUS_RECEIVED_AT : STATUS_AS_OF] = time;
}

function judge(item: Item | undefined, aspectWrite: AspectWrite, write: StateWrite): Verdict {
  const { aspect } = aspectWrite;
  const { key } = write;
  if (item && asList(item[LEGACY_APPLIED]).includes(key)) return 'already_applied';
  const { rank, applied, untimed } = aspectOrder(item, aspect);
  const short = appliedKey(key);
  // Whatever its time: a body without triggered_at delivered again has a later receipt time.
  if (applied.includes(short) || untimed.includes(short)) return 'already_applied';
  const own = writeRank(write);
  if (rank === undefined || own > rank) return 'apply';
  if (own < rank) {
    const step = aspect === 'lifecycle' && !write.fromRead && 'status' in aspectWrite.set;
    const shown = stepRank(item);
    if (!step || shown === undefined || own < shown) return 'stale';
    if (own > shown) return 'apply_status';
    // A tie with the step the status shows: in arrival order, and a body applied at that time never again.
    const steps = asList(item?.[STATUS_APPLIED]);
    if (steps.includes(short)) return 'already_applied';
    return steps.length < MAX_APPLIED_AT_ONE_TIME || write.tieResolved ? 'apply_status' : 'uncertain';
  }
  return applied.length < MAX_APPLIED_AT_ONE_TIME || write.tieResolved ? 'apply' : 'uncertain';
}

export interface MergeResult {
  outcome: StateWriteResult;
  /**
   * The whole record after the write, when `outcome` is `applied` and the write changes one of its fields;
   * absent for a write that changes nothing but bookkeeping (a same-meaning body): no write at all.
   */
  item?: Item;
  /** The aspects that applied. */
  applied: AspectName[];
}

/** A `tenantOnly` write may change only a record of its own tenant, or create one. */
export function tenantMismatch(old: Item | undefined, write: StateWrite): boolean {
  return write.tenantOnly === true && old !== undefined && old[TENANT] !== write.tenantId;
}

function valuesAsOf(item: Item | undefined, aspect: AspectName): Record<string, string> {
  const attribute = VALUES_AS_OF[aspect];
  const map = attribute === undefined ? undefined : item?.[attribute];
  return map !== null && typeof map === 'object' && !Array.isArray(map)
    ? { ...(map as Record<string, string>) }
    : {};
}

function setValuesAsOf(item: Item, aspect: AspectName, asOf: Record<string, string>): void {
  const attribute = VALUES_AS_OF[aspect];
  if (attribute === undefined) return;
  if (Object.keys(asOf).length > 0) item[attribute] = asOf;
  else delete item[attribute];
}

/** A group's fields: top-level attributes and `event` fields. */
const groupFields = (aspect: AspectName, group: string) =>
  VALUE_GROUPS[aspect]?.[group] ?? { set: [] as readonly string[], event: [] as readonly string[] };

/** A group's values as a write sends them, or as a record shows them (undefined left out). */
function groupValues(aspect: AspectName, group: string, set: Item, event: Item | undefined): unknown[] {
  const { set: fields, event: eventFields } = groupFields(aspect, group);
  return [...fields.map((field) => set[field]), ...eventFields.map((field) => event?.[field])].filter(
    (value) => value !== undefined,
  );
}

/**
 * For a write older than an aspect (its verdict `stale`, or `apply_status`): the groups it sends whose shown values
 * are older than it (VALUES_AS_OF), and whether it is the very write they show (same time, same values: a
 * redelivery, or a same-meaning body). At an equal time with other values the record cannot tell a later body
 * (which applies, in arrival order) from a redelivery of an earlier one (the keys applied at that time are gone):
 * `uncertain`, as for a tie past MAX_APPLIED_AT_ONE_TIME, until the caller found the body never applied
 * (`tieResolved`).
 */
function valueSteps(
  item: Item | undefined,
  aspectWrite: AspectWrite,
  write: StateWrite,
): { groups: string[]; shown: boolean; uncertain: boolean } {
  const { aspect } = aspectWrite;
  // A cancel sends no values: older than the aspect, it has none to fill in.
  if (aspectWrite.allGroups) return { groups: [], shown: false, uncertain: false };
  const asOf = valuesAsOf(item, aspect);
  const own = writeRank(write);
  const groups: string[] = [];
  let shown = false;
  let uncertain = false;
  for (const group of sentGroups(aspectWrite)) {
    const rank = asOf[group];
    if (rank === undefined || own < rank) continue;
    if (own > rank) groups.push(group);
    else if (
      isDeepStrictEqual(
        groupValues(aspect, group, aspectWrite.set, aspectWrite.event),
        groupValues(aspect, group, item ?? {}, item?.[EVENT_MAP] as Item | undefined),
      )
    )
      shown = true;
    else if (write.tieResolved) groups.push(group);
    else uncertain = true;
  }
  return { groups, shown, uncertain };
}

/** Remember the key of a body without triggered_at on an aspect (a redelivery has a later receipt time). */
function rememberUntimed(item: Item, aspect: AspectName, key: string): void {
  const { untimed } = aspectOrder(item, aspect);
  if (!untimed.includes(key)) item[ASPECTS[aspect].untimed] = [...untimed, key].slice(-MAX_UNTIMED_KEYS);
}

/** The record after `write`, given the record before it (`undefined`: there is none). Pure. */
export function mergeState(old: Item | undefined, write: StateWrite): MergeResult {
  if (tenantMismatch(old, write)) return { outcome: 'tenant_mismatch', applied: [] };
  const verdicts = write.aspects.map((aspect) => ({ aspect, verdict: judge(old, aspect, write) }));
  // A body without triggered_at has a later receipt time on every delivery: once any aspect remembers its key,
  // an aspect it did not apply to (older then) must not take it now.
  if (write.triggeredAt === undefined && verdicts.some((v) => v.verdict === 'already_applied'))
    return { outcome: 'already_applied', applied: [] };
  if (verdicts.some((v) => v.verdict === 'uncertain')) return { outcome: 'uncertain', applied: [] };
  const applying = verdicts.filter((v) => v.verdict === 'apply').map((v) => v.aspect);
  const statusSteps = verdicts.filter((v) => v.verdict === 'apply_status').map((v) => v.aspect);
  // A notification older than an aspect: the values it sends that the record shows older ones of.
  const values = verdicts
    .filter((v) => v.verdict === 'stale' || v.verdict === 'apply_status')
    .map((v) => ({ aspect: v.aspect, ...valueSteps(old, v.aspect, write) }));
  // A tie with a group's time: unless this body already applied to another aspect (then it was judged then).
  if (values.some((v) => v.uncertain) && !verdicts.some((v) => v.verdict === 'already_applied'))
    return { outcome: 'uncertain', applied: [] };
  const valueWrites = values.filter((v) => v.groups.length > 0);
  if (applying.length === 0 && statusSteps.length === 0 && valueWrites.length === 0) {
    const shown = verdicts.some((v) => v.verdict === 'already_applied') || values.some((v) => v.shown);
    return { outcome: shown ? 'already_applied' : 'stale', applied: [] };
  }

  const item: Item = { ...(old ?? {}), ...write.common, pk: write.pk };
  // A record's tenant, once set, never changes.
  if (write.tenantId !== undefined && typeof old?.[TENANT] !== 'string') item[TENANT] = write.tenantId;
  if (old && LEGACY_APPLIED in old) {
    // Upgrade a record of the previous version: every aspect keeps the single clock it had, and the unbounded
    // list goes.
    for (const aspect of ENTITY_ASPECTS[String(write.common.entity)] ?? []) {
      const { asOf } = aspectOrder(old, aspect);
      if (asOf === undefined) continue;
      item[ASPECTS[aspect].triggeredAt] = asOf;
    }
    delete item[LEGACY_APPLIED];
  }
  for (const { aspect: step, groups } of valueWrites) {
    // Only these groups' values: the aspect's time (and a lifecycle's status) are newer.
    const asOf = valuesAsOf(item, step.aspect);
    const event = { ...((item[EVENT_MAP] as Item | undefined) ?? {}) };
    for (const group of groups) {
      const fields = groupFields(step.aspect, group);
      // A field of the group the write removes goes with the group's values (metadata without a correlation id).
      for (const field of fields.set)
        if (step.set[field] !== undefined) item[field] = step.set[field];
        else if (step.remove?.includes(field)) delete item[field];
      for (const field of fields.event)
        if (step.event?.[field] !== undefined) event[field] = step.event[field];
      asOf[group] = writeRank(write);
    }
    if (Object.keys(event).length > 0) item[EVENT_MAP] = event;
    setValuesAsOf(item, step.aspect, asOf);
    // Its key goes first among the aspect's applied keys (the last names the notification the aspect's time is
    // of): every change of a record names the notification it applied, and a redelivery is recognised.
    const short = appliedKey(write.key);
    const { applied } = aspectOrder(item, step.aspect);
    if (!applied.includes(short))
      item[ASPECTS[step.aspect].applied] = [short, ...applied].slice(-MAX_APPLIED_AT_ONE_TIME);
    if (write.triggeredAt === undefined) rememberUntimed(item, step.aspect, short);
    if (step.aspect === 'lifecycle' && OPEN_INDEX.sortKey in item && isOpenStatus(item.status))
      item[OPEN_INDEX.sortKey] = openUntil((item[EVENT_MAP] as Item | undefined)?.end);
  }
  for (const step of statusSteps) {
    // The step only: the record's values are newer (a read), so its times, metadata and ordering stay. A
    // cancel's step is its status and when it happened (no read shows either).
    // The notification type names the step (a cancel through the API is none).
    const { status, [CANCELLED_AT]: cancelledAt, [LAST_NOTIFICATION_TYPE]: type } = step.set;
    const index = openIndexChange(status, (item[EVENT_MAP] as Item | undefined)?.end);
    Object.assign(item, { status }, index.set);
    for (const [attribute, value] of [
      [CANCELLED_AT, cancelledAt],
      [LAST_NOTIFICATION_TYPE, type],
    ] as const)
      if (value === undefined) delete item[attribute];
      else item[attribute] = value;
    for (const attribute of index.remove ?? []) delete item[attribute];
    const tie = stepRank(item) === writeRank(write);
    item[STATUS_APPLIED] = [...(tie ? asList(item[STATUS_APPLIED]) : []), appliedKey(write.key)].slice(
      -MAX_APPLIED_AT_ONE_TIME,
    );
    setStep(item, write.at, write.receiptTime === true);
    // A body without triggered_at delivered again has a later receipt time: only its key tells (see above).
    if (write.triggeredAt === undefined) rememberUntimed(item, step.aspect, appliedKey(write.key));
  }
  for (const write_ of applying) {
    const attributes = ASPECTS[write_.aspect];
    if (write_.aspect === 'lifecycle') {
      if (!write.fromRead) {
        delete item[STATUS_AS_OF];
        delete item[STATUS_RECEIVED_AT];
        delete item[STATUS_APPLIED];
      } else if (stepRank(item) === undefined) {
        // The step the status shows, and the bodies applied at its time (a duplicate of one is no tie).
        const { asOf, rank, applied } = aspectOrder(old, 'lifecycle');
        setStep(item, asOf ?? STEP_BEFORE_ANY, rank?.startsWith('r') === true);
        if (asOf !== undefined && applied.length > 0) item[STATUS_APPLIED] = applied;
      }
    }
    // The groups this notification leaves out keep the time of the values they show (ordered apart from now on).
    const asOf = valuesAsOf(old, write_.aspect);
    const sent = sentGroups(write_);
    const previous = aspectOrder(old, write_.aspect).rank ?? '';
    for (const group of valueGroups(write_.aspect))
      if (sent.includes(group)) delete asOf[group];
      else asOf[group] ??= previous;
    setValuesAsOf(item, write_.aspect, asOf);
    Object.assign(item, write_.set);
    for (const attribute of write_.remove ?? []) delete item[attribute];
    if (write_.event) item[EVENT_MAP] = { ...((item[EVENT_MAP] as Item | undefined) ?? {}), ...write_.event };
    const { rank, applied } = aspectOrder(item, write_.aspect);
    const key = appliedKey(write.key);
    item[attributes.applied] =
      rank === writeRank(write) ? [...applied, key].slice(-MAX_APPLIED_AT_ONE_TIME) : [key];
    // The ordering time is `triggered_at` when there is one, else the receipt time in `*_received_at`, else
    // (a read, a cancel) the time in `*_as_of`; only one of the three is kept.
    if (write.triggeredAt === undefined) {
      const [kept, dropped] = write.receiptTime
        ? [attributes.receivedAt, attributes.asOf]
        : [attributes.asOf, attributes.receivedAt];
      item[kept] = write.at;
      delete item[dropped];
      delete item[attributes.triggeredAt];
      item[attributes.untimed] = [...aspectOrder(item, write_.aspect).untimed, key].slice(-MAX_UNTIMED_KEYS);
    } else {
      item[attributes.triggeredAt] = write.triggeredAt;
      delete item[attributes.asOf];
      delete item[attributes.receivedAt];
    }
    // The open-requests horizon is the event end the record shows, also when this step sent none.
    if (write_.aspect === 'lifecycle' && OPEN_INDEX.sortKey in item && isOpenStatus(item.status))
      item[OPEN_INDEX.sortKey] = openUntil((item[EVENT_MAP] as Item | undefined)?.end);
  }
  const applied = [
    ...new Set([...valueWrites.map((v) => v.aspect), ...statusSteps, ...applying].map((a) => a.aspect)),
  ];
  if (old && unchanged(old, item)) return { outcome: 'applied', applied };
  item[REVISION] = (typeof old?.[REVISION] === 'number' ? (old[REVISION] as number) : 0) + 1;
  return { outcome: 'applied', item, applied };
}

/**
 * Attributes a write may change without changing the record: when nothing else differs, the write is no write
 * (nothing on the stream). The keys of a body whose values the record already shows are not needed to recognise
 * it again: applied again, it changes nothing again.
 */
const BOOKKEEPING = new Set<string>([
  'updated_at',
  'reconciled_at',
  REVISION,
  STATUS_APPLIED,
  ...Object.values(ASPECTS).flatMap((attributes) => [attributes.applied, attributes.untimed]),
]);

function unchanged(old: Item, item: Item): boolean {
  const fields = (record: Item) =>
    Object.fromEntries(Object.entries(record).filter(([name]) => !BOOKKEEPING.has(name)));
  return isDeepStrictEqual(fields(old), fields(item));
}
