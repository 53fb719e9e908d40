import { keys } from '#shared/contract/records.ts';
import type { SchedulingRequestType } from '#shared/notifications/cronofy-schemas.ts';
import { encodeEnvelope, idempotencyKey } from '#shared/notifications/envelope.ts';
import { planNotification } from '#shared/notifications/plan.ts';
import { decodeEnvelope } from '#shared/notifications/queue-message.ts';
import {
  conferencingPayload,
  type EventState,
  eventTriggerPayload,
  isoSeconds,
  type ParticipantStatus,
  type Person,
  type SchedulingRequestState,
  schedulingRequestPayload,
  seedParticipantStatusChangedText,
  type TransitionWithOffset,
  transitionTarget,
} from './payloads.ts';
import type { Random } from './random.ts';

/**
 * What the simulator sends: chains of notifications with coherent lifecycles. Steps of one chain are
 * delivered in order (Cronofy sends them minutes or days apart); chains run side by side.
 *
 * Every notification knows its idempotency key (as the ingest function derives it) and the effect it must
 * have on the table, which is what `verify` checks afterwards.
 */

export const SCENARIOS = [
  'lifecycle',
  'conferencing',
  'triggers',
  'mixed',
  'top-of-hour',
  'replay-attack',
  'out-of-order',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const SCENARIO_HELP: Record<ScenarioName, string> = {
  lifecycle:
    'Scheduler Workflow callbacks: time chosen → participant status changed → rescheduled → event start → event end (and declined / no times / more times variants)',
  conferencing:
    'conferencing_failing (incl. profile_missing) → conferencing_assigned, and re-assigned join URLs',
  triggers: 'Event Triggers at their offsets, with Cronofy-Notification-ID; moved events re-send triggers',
  mixed: 'all of the above plus signed bodies that are not valid JSON and unknown types',
  'top-of-hour':
    'a burst: Event Triggers and event_start callbacks for many events starting at the same hour',
  'replay-attack':
    'captured signed bodies of every type (with and without triggered_at) re-posted under fresh Cronofy-Notification-IDs, interleaved with newer notifications and again long after: no further effect',
  'out-of-order':
    'late Cronofy retries: time chosen 10:00 → participant change 12:00:05 → the 12:00:00 reschedule after it, equal-second ties, duplicates after newer notifications of the same second (scheduling requests and conferencing)',
};

/** The effect one notification must have on the table, exactly once. */
export type Expectation =
  /**
   * A state record (scheduling_request / event): each aspect the body carries applies it once, unless a newer
   * time is already there (stale); verify.ts reads the aspects and times from the body.
   */
  | { effect: 'state'; pk: string }
  /** One event_trigger record per transition (several bodies may map to the same one). */
  | { effect: 'triggers'; pks: string[] }
  /** Only the notification record, with this status. */
  | { effect: 'record'; status: 'unparseable' | 'unknown_type' };

export interface SimNotification {
  /** For reports: `<scenario>/<chain>/<step>`. Never a payload value. */
  label: string;
  type: string | null;
  body: Buffer;
  /**
   * `Cronofy-Notification-ID`, sent on Event Trigger callbacks only (as Cronofy documents), and by a
   * replay attacker on anything. Tracing only: it is not the idempotency key.
   */
  notificationId?: string;
  /** The idempotency key the pipeline derives: `sha256:<hex>` of the body, always. */
  key: string;
  expect: Expectation;
  /** Part of a top-of-hour burst: sent at once, not held back by the rate limit. */
  burst?: boolean;
  /** Wait this long before the first attempt (a body captured and replayed long after). */
  delayMs?: number;
}

export interface Chain {
  id: string;
  steps: SimNotification[];
}

export interface ScenarioContext {
  random: Random;
  /** Unique per run, part of every identifier, so runs against one table never share a key. */
  runId: string;
  now: Date;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The Event Trigger records a body creates (keyed by event, transition and target time), as the worker plans them. */
function triggerKeys(payload: Record<string, unknown>): string[] {
  const body = Buffer.from(JSON.stringify(payload));
  const envelope = decodeEnvelope(encodeEnvelope({ body, receivedAt: new Date() }));
  return planNotification(envelope, new Date(), { retentionDays: 0 }).triggerWrites.map((write) => write.pk);
}

function notification(
  label: string,
  type: string | null,
  payload: Record<string, unknown> | string,
  expect: Expectation | ((key: string) => Expectation),
  notificationId?: string,
): SimNotification {
  const body = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const key = idempotencyKey(body);
  return {
    label,
    type,
    body,
    key,
    expect: typeof expect === 'function' ? expect(key) : expect,
    ...(notificationId ? { notificationId } : {}),
  };
}

const FIRST = ['Casey', 'Robin', 'Alex', 'Sam', 'Jordan', 'Morgan', 'Taylor', 'Jamie', 'Avery', 'Riley'];
const LAST = [
  'Candidate',
  'Okafor',
  'Nakamura',
  'García',
  'Müller',
  'Dubois',
  'Kowalski',
  'Ólafsson',
  'Singh',
  'Chen',
];
const TZIDS = ['Europe/Paris', 'Europe/London', 'America/New_York', 'Asia/Singapore', 'Australia/Sydney'];
const NOTES = [
  'No dietary requirements.',
  'Needs step-free access.',
  'Prefers mornings.',
  'Bringing a portfolio.',
];

function person(random: Random, domain: string): Person {
  const first = random.pick(FIRST);
  const last = random.pick(LAST);
  return { email: `${first}.${random.hex(6)}@${domain}`.toLowerCase(), display_name: `${first} ${last}` };
}

/** A quarter-hour slot on a working day, as interviews are booked. */
function slotAfter(random: Random, after: Date, minDays: number, maxDays: number): Date {
  const day = new Date(after.getTime() + random.int(minDays, maxDays) * DAY);
  day.setUTCHours(random.int(8, 16), random.pick([0, 15, 30, 45]), 0, 0);
  return day.getTime() > after.getTime() ? day : new Date(day.getTime() + DAY);
}

function newRequest(ctx: ScenarioContext, n: number): SchedulingRequestState {
  const { random, runId } = ctx;
  const candidate = person(random, 'candidates.example.com');
  return {
    id: `srq_${runId}${random.hex(24 - runId.length)}`,
    slug: random.hex(8),
    summary: `Interview - ${candidate.display_name} & Hiring team`,
    tzid: random.pick(TZIDS),
    durationMinutes: random.pick([30, 45, 60]),
    candidate,
    host: { ...person(random, 'hiring.example.com'), sub: `acc_${random.hex(24)}` },
    panel: { ...person(random, 'hiring.example.com'), sub: `acc_${random.hex(24)}` },
    statuses: { host: 'accepted', candidate: 'needs_action', panel: 'needs_action' },
    metadata: {
      correlation_id: `CAND-${runId}-${n}`,
      utm_source: random.pick(['ats', 'automated_email_workflow', 'careers_site']),
      utm_medium: 'email',
      utm_campaign: random.pick(['candidate_interview_offer_email', 'reminder', 'onsite']),
      'captured_data.phone_number': `+44 20 7946 ${String(random.int(0, 9999)).padStart(4, '0')}`,
      'captured_data.notes': random.pick(NOTES),
    },
  };
}

/**
 * Scheduler Workflow / Embedded Scheduler lifecycle of one Scheduling Request. `timed: false` leaves out
 * `triggered_at` (the schema allows it), so the steps are ordered by their receipt times.
 */
function lifecycleChain(ctx: ScenarioContext, n: number, scenario: string, timed = true): Chain {
  const { random } = ctx;
  const request = newRequest(ctx, n);
  const pk = keys.schedulingRequest(request.id);
  const steps: SimNotification[] = [];
  // Triggered times are spread over the past fortnight and strictly increase within the chain.
  let at = new Date(ctx.now.getTime() - random.int(7, 14) * DAY + random.int(0, DAY));
  const advance = (minMs: number, maxMs: number) => {
    at = new Date(at.getTime() + random.int(minMs, maxMs));
    return at;
  };
  const push = (type: SchedulingRequestType, triggeredAt: Date, changed?: string[]) => {
    const payload = schedulingRequestPayload(
      type,
      request,
      timed ? triggeredAt : undefined,
      changed ? { changedParticipants: changed } : {},
    );
    steps.push(
      notification(`${scenario}/${request.id}/${steps.length}`, type, payload, { effect: 'state', pk }),
    );
  };
  const statusChange = (who: 'candidate' | 'panel' | 'host', status: ParticipantStatus) => {
    request.statuses[who] = status;
    push('event_participant_status_changed', advance(10 * MINUTE, 6 * HOUR), [request[who].email]);
  };
  const eventStartAndEnd = () => {
    const start = request.start as Date;
    push('event_start', start);
    push('event_end', new Date(start.getTime() + request.durationMinutes * MINUTE));
  };

  const variant = random.weighted({ booked: 6, no_times: 2, declined: 1.5, plain: 0.5 });
  if (variant === 'no_times') {
    push('scheduling_request_no_times_available', advance(0, HOUR));
    push('scheduling_request_more_times_requested', advance(MINUTE, HOUR));
  }
  request.start = slotAfter(random, advance(MINUTE, 2 * DAY), 1, 3);
  request.statuses.candidate = 'accepted';
  push('scheduling_request_time_chosen', at);
  if (variant === 'plain') return { id: request.id, steps };
  statusChange('panel', random.pick(['accepted', 'tentative']));
  if (variant === 'declined') {
    request.statuses.candidate = 'declined';
    push('scheduling_request_declined', advance(HOUR, DAY));
    return { id: request.id, steps };
  }
  if (variant === 'booked' && random.chance(0.7)) {
    advance(HOUR, DAY);
    request.start = slotAfter(random, at, 1, 2);
    push('scheduling_request_rescheduled', at);
    if (random.chance(0.5)) statusChange('host', random.pick(['accepted', 'tentative']));
  }
  // Rarely the last change lands after the slot: the organiser moved the event in their calendar, and
  // Cronofy sends event_start at the new time (its documentation: "we'll send a notification at the new time").
  if ((request.start as Date).getTime() <= at.getTime()) request.start = slotAfter(random, at, 1, 2);
  eventStartAndEnd();
  return { id: request.id, steps };
}

function newEvent(ctx: ScenarioContext, prefix: string, start?: Date): EventState {
  const { random, runId } = ctx;
  const begins = start ?? slotAfter(random, ctx.now, 1, 10);
  return {
    eventId: `${prefix}_${runId}_${random.hex(12)}`,
    summary: random.pick([
      'Board meeting',
      'Interview',
      'Onsite interview',
      'Quarterly review',
      'Hiring panel',
    ]),
    description: random.pick([
      'Discuss plans for the next quarter.',
      'Panel with the hiring team.',
      'Bring your laptop.',
    ]),
    start: begins,
    end: new Date(begins.getTime() + random.pick([30, 45, 60, 90]) * MINUTE),
  };
}

/**
 * Conferencing: assigned, or failing first (sometimes with profile_missing) and then assigned. As Cronofy's documentation,
 * without `triggered_at`; `timed` adds increasing ones.
 */
function conferencingChain(ctx: ScenarioContext, scenario: string, timed = false): Chain {
  const { random } = ctx;
  const event = newEvent(ctx, 'evt');
  const pk = keys.event(event.eventId);
  const steps: SimNotification[] = [];
  let at = new Date(ctx.now.getTime() - 2 * DAY);
  const push = (
    interaction: 'conferencing_assigned' | 'conferencing_failing',
    options: Parameters<typeof conferencingPayload>[2],
  ) => {
    at = new Date(at.getTime() + MINUTE);
    steps.push(
      notification(
        `${scenario}/${event.eventId}/${steps.length}`,
        'event_subscription',
        conferencingPayload(interaction, event, { ...options, ...(timed ? { triggeredAt: at } : {}) }),
        { effect: 'state', pk },
      ),
    );
  };
  const provider = random.pick(['zoom', 'ms_teams', 'google_meet']);
  const joinUrl = () => `https://conference.example.com/${provider}/${random.hex(12)}`;
  const variant = random.weighted({
    assigned: 4,
    failing_then_assigned: 3,
    profile_missing: 2,
    reassigned: 1,
  });
  if (variant === 'failing_then_assigned') push('conferencing_failing', {});
  if (variant === 'profile_missing') push('conferencing_failing', { subtype: 'profile_missing' });
  push('conferencing_assigned', { provider, joinUrl: joinUrl() });
  // The event was updated and a new conference generated: a different body, so a different notification.
  if (variant === 'reassigned') push('conferencing_assigned', { provider, joinUrl: joinUrl() });
  return { id: event.eventId, steps };
}

const TRANSITIONS: readonly TransitionWithOffset[] = [
  { before: 'event_start', offset: { hours: 1 } },
  { before: 'event_start', offset: { minutes: 5 } },
  { after: 'event_start', offset: { minutes: 5 } },
  { before: 'event_end', offset: { minutes: 0 } },
  { after: 'event_end', offset: { minutes: 0 } },
  { after: 'event_end', offset: { minutes: 10 } },
];

function triggerNotification(
  ctx: ScenarioContext,
  scenario: string,
  event: EventState,
  transition: TransitionWithOffset,
  index: number,
  timed = false,
): SimNotification {
  const id = `ntf_${ctx.runId}_${ctx.random.hex(16)}`;
  const form = ctx.random.chance(0.5) ? 'array' : 'single';
  const payload = eventTriggerPayload(transition, event, form, timed ? ctx.now : undefined);
  return notification(
    `${scenario}/${event.eventId}/${index}`,
    'event_subscription',
    payload,
    { effect: 'triggers', pks: triggerKeys(payload) },
    id,
  );
}

/** Event Triggers of one event, in the order they fall due; a moved event re-queues them (new ids). */
function triggersChain(ctx: ScenarioContext, scenario: string, timed = false): Chain {
  const { random } = ctx;
  const event = newEvent(ctx, 'trg');
  const chosen = TRANSITIONS.filter(() => random.chance(0.5));
  if (chosen.length === 0) chosen.push(TRANSITIONS[1] as TransitionWithOffset);
  const due = (list: TransitionWithOffset[], at: EventState) =>
    [...list].sort((a, b) => transitionTarget(a, at).getTime() - transitionTarget(b, at).getTime());
  const steps: SimNotification[] = [];
  const ordered = due(chosen, event);
  const movedAfter = random.chance(0.2) ? random.int(1, ordered.length) : undefined;
  for (const [i, transition] of ordered.entries()) {
    if (i === movedAfter) break;
    steps.push(triggerNotification(ctx, scenario, event, transition, steps.length, timed));
  }
  if (movedAfter !== undefined) {
    // "If an event moves, a new notification will be scheduled, even if one was already sent."
    const shift = random.pick([30, 60, 24 * 60]) * MINUTE;
    event.start = new Date(event.start.getTime() + shift);
    event.end = new Date(event.end.getTime() + shift);
    for (const transition of due(chosen, event))
      steps.push(triggerNotification(ctx, scenario, event, transition, steps.length, timed));
  }
  return { id: event.eventId, steps };
}

/** Signed bodies the worker cannot apply but must keep: the invalid JSON of Cronofy's documented example, and a type we do not know. */
function oddChain(ctx: ScenarioContext, scenario: string): Chain {
  const { random, runId } = ctx;
  const id = `srq_${runId}${random.hex(24 - runId.length)}`;
  const step = random.chance(0.5)
    ? notification(`${scenario}/${id}/0`, null, seedParticipantStatusChangedText(id), {
        effect: 'record',
        status: 'unparseable',
      })
    : notification(
        `${scenario}/${id}/0`,
        'scheduling_request_future_type',
        {
          notification: { type: 'scheduling_request_future_type', triggered_at: isoSeconds(ctx.now) },
          scheduling_request: { scheduling_request_id: id },
        },
        { effect: 'record', status: 'unknown_type' },
      );
  return { id, steps: [step] };
}

/** Many events start at the top of the next hour: their triggers and event_start callbacks all fall due at once. */
function topOfHourChain(ctx: ScenarioContext, scenario: string, n: number, hour: Date): Chain {
  const { random } = ctx;
  if (random.chance(0.4)) {
    const request = newRequest(ctx, n);
    request.start = hour;
    request.statuses.candidate = 'accepted';
    const step = notification(
      `${scenario}/${request.id}/0`,
      'event_start',
      schedulingRequestPayload('event_start', request, hour),
      {
        effect: 'state',
        pk: keys.schedulingRequest(request.id),
      },
    );
    return { id: request.id, steps: [{ ...step, burst: true }] };
  }
  const event = newEvent(ctx, 'toh', hour);
  const transition = random.pick(TRANSITIONS.slice(1, 3));
  return {
    id: event.eventId,
    steps: [{ ...triggerNotification(ctx, scenario, event, transition, 0), burst: true }],
  };
}

/** The same signed bytes delivered again: the same notification (key, expectation), a new label. */
function again(
  original: SimNotification,
  label: string,
  extra: Partial<SimNotification> = {},
): SimNotification {
  return { ...original, label: `${original.label}/${label}`, ...extra };
}

/**
 * A replay attacker holding captured signed bodies: every kind (lifecycle steps with and without
 * `triggered_at`, conferencing with and without, Event Triggers with and without, bodies kept unapplied)
 * re-posted under fresh `Cronofy-Notification-ID` headers, some right after a newer notification of the same
 * record, and all of them again at the end, the first after a pause. Each replay is the same notification
 * (same key, same expected effect): it must change nothing.
 */
function replayAttackChain(ctx: ScenarioContext, scenario: string, n: number): Chain {
  const { random } = ctx;
  const kind = random.weighted({
    timed: 3,
    untimed: 2,
    conferencing: 1.5,
    conferencingTimed: 1,
    triggers: 1.5,
    triggersTimed: 1,
    odd: 1,
  });
  const captured =
    kind === 'timed' || kind === 'untimed'
      ? lifecycleChain(ctx, n, scenario, kind === 'timed')
      : kind === 'conferencing' || kind === 'conferencingTimed'
        ? conferencingChain(ctx, scenario, kind === 'conferencingTimed')
        : kind === 'triggers' || kind === 'triggersTimed'
          ? triggersChain(ctx, scenario, kind === 'triggersTimed')
          : oddChain(ctx, scenario);
  let replays = 0;
  const replay = (original: SimNotification, delayMs?: number) =>
    again(original, `replay${++replays}`, {
      notificationId: `ntf_replay_${ctx.runId}_${random.hex(16)}`,
      ...(delayMs ? { delayMs } : {}),
    });
  const steps: SimNotification[] = [];
  for (const [i, step] of captured.steps.entries()) {
    steps.push(step);
    // Interleaved: an older body re-posted right after a newer one of the same record.
    if (i > 0 && random.chance(0.6))
      steps.push(replay(captured.steps[random.int(0, i - 1)] as SimNotification));
  }
  // Long after: every captured body once more, in any order, the first after a pause.
  const late = captured.steps.map((step) => ({ step, order: random() })).sort((a, b) => a.order - b.order);
  for (const [i, { step }] of late.entries())
    steps.push(replay(step, i === 0 ? random.int(500, 2500) : undefined));
  return { id: captured.id, steps };
}

/**
 * Cronofy's retries arriving late, for one Scheduling Request (or, one time in four, one event's
 * conferencing): time chosen at 10:00 → a participant change at 12:00:05 → the reschedule of 12:00:00
 * delivered after it (its participants are older, its lifecycle newer); a second participant change in the
 * same second; a retry of the first after it; sometimes two reschedules within one later second, the earlier
 * one retried after both; the 12:00:00 reschedule retried once more at the end. Bodies are built in the order Cronofy
 * created them and delivered in another.
 */
function outOfOrderChain(ctx: ScenarioContext, scenario: string, n: number): Chain {
  const { random } = ctx;
  const day = new Date(ctx.now.getTime() - random.int(2, 9) * DAY);
  day.setUTCHours(10, 0, 0, 0);
  const at = (hours: number, seconds = 0) => new Date(day.getTime() + hours * HOUR + seconds * 1000);
  const retried = (steps: SimNotification[], original: SimNotification) =>
    steps.push(again(original, `retry${steps.length}`));

  if (random.chance(0.25)) {
    const event = newEvent(ctx, 'ooo');
    const pk = keys.event(event.eventId);
    const made = (label: string, interaction: 'conferencing_assigned' | 'conferencing_failing', when: Date) =>
      notification(
        `${scenario}/${event.eventId}/${label}`,
        'event_subscription',
        conferencingPayload(interaction, event, {
          triggeredAt: when,
          joinUrl: `https://conference.example.com/zoom/${random.hex(12)}`,
        }),
        { effect: 'state', pk },
      );
    const assigned = made('assigned', 'conferencing_assigned', at(0));
    const failing = made('failing', 'conferencing_failing', at(0, 10));
    const reassigned = made('reassigned', 'conferencing_assigned', at(0, 10));
    const steps = [failing, assigned, reassigned];
    retried(steps, failing); // a duplicate after a newer notification of the same second
    retried(steps, assigned); // an older one retried once more
    return { id: event.eventId, steps };
  }

  const request = newRequest(ctx, n);
  const pk = keys.schedulingRequest(request.id);
  const made = (label: string, type: SchedulingRequestType, when: Date, changed?: string[]) =>
    notification(
      `${scenario}/${request.id}/${label}`,
      type,
      schedulingRequestPayload(type, request, when, changed ? { changedParticipants: changed } : {}),
      { effect: 'state', pk },
    );
  request.start = slotAfter(random, day, 2, 4);
  request.statuses.candidate = 'accepted';
  const chosen = made('chosen', 'scheduling_request_time_chosen', at(0));
  request.start = slotAfter(random, at(2), 1, 2);
  request.statuses.panel = 'needs_action';
  const rescheduled = made('rescheduled', 'scheduling_request_rescheduled', at(2));
  request.statuses.panel = 'accepted';
  const panel = made('panel', 'event_participant_status_changed', at(2, 5), [request.panel.email]);
  request.statuses.host = 'tentative';
  const host = made('host', 'event_participant_status_changed', at(2, 5), [request.host.email]);
  request.start = slotAfter(random, at(4), 1, 2);
  const movedOnce = made('moved-once', 'scheduling_request_rescheduled', at(4));
  request.start = new Date(request.start.getTime() + HOUR);
  const movedTwice = made('moved-twice', 'scheduling_request_rescheduled', at(4));

  const steps = [chosen, panel, rescheduled];
  // The tie of 12:00:05 arrives in either order; the first of it is retried after the second.
  const [tieFirst, tieSecond] = random.chance(0.5) ? [panel, host] : [host, panel];
  if (tieFirst === host) steps.splice(1, 0, host);
  else steps.push(host);
  retried(steps, tieFirst);
  // Half the time the request moves twice within one later second (a lifecycle tie, which also carries the
  // participants past 12:00:05); otherwise the record ends at the 12:00:05 tie.
  if (random.chance(0.5)) {
    steps.push(movedOnce, movedTwice);
    retried(steps, movedOnce);
  }
  if (random.chance(0.5)) retried(steps, tieSecond);
  retried(steps, rescheduled);
  return { id: request.id, steps };
}

/** `count` notifications for a scenario, as chains (the last chain is cut short to hit the count exactly). */
export function buildScenario(name: ScenarioName, count: number, ctx: ScenarioContext): Chain[] {
  const chains: Chain[] = [];
  let total = 0;
  const hour = new Date(ctx.now);
  hour.setUTCHours(hour.getUTCHours() + 1, 0, 0, 0);
  for (let n = 0; total < count; n++) {
    let chain: Chain;
    switch (name) {
      case 'lifecycle':
        chain = lifecycleChain(ctx, n, name);
        break;
      case 'conferencing':
        chain = conferencingChain(ctx, name);
        break;
      case 'triggers':
        chain = triggersChain(ctx, name);
        break;
      case 'top-of-hour':
        chain = topOfHourChain(ctx, name, n, hour);
        break;
      case 'replay-attack':
        chain = replayAttackChain(ctx, name, n);
        break;
      case 'out-of-order':
        chain = outOfOrderChain(ctx, name, n);
        break;
      case 'mixed': {
        const kind = ctx.random.weighted({ lifecycle: 45, conferencing: 20, triggers: 30, odd: 5 });
        chain =
          kind === 'lifecycle'
            ? lifecycleChain(ctx, n, name)
            : kind === 'conferencing'
              ? conferencingChain(ctx, name)
              : kind === 'triggers'
                ? triggersChain(ctx, name)
                : oddChain(ctx, name);
        break;
      }
    }
    chain.steps = chain.steps.slice(0, count - total);
    total += chain.steps.length;
    chains.push(chain);
  }
  return chains;
}
