import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { METADATA_KEYS } from '#shared/contract/keys.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { LOCAL_CLIENT_ID } from '../local-mode.ts';

/**
 * A fake of Cronofy's Scheduling Requests API for local mode and tests
 * (https://docs.cronofy.com/developers/api/scheduling-requests/), on 127.0.0.1 only:
 *
 * - `POST /v1/scheduling_requests` (from a template, or with a host / host group), `…/query`, `…/cancel`,
 *   with Cronofy's status codes and error shapes: `401` for a wrong bearer (not counted against the rate
 *   limit, as at Cronofy), `422 {"errors": {param: [{key, description}]}}`, `404` for an unknown id, and
 *   `429` beyond the rate limit (50 in any second, 500 in any minute by default).
 * - `GET /rts/{token}`: the recipient's link. Records the metadata query parameters (`correlation_id`,
 *   `utm_*`, at most 128 characters each) that a chosen time then stores on the request.
 * - `POST /_fake/scheduling_requests/{id}/{time_chosen|rescheduled|declined}` with optional JSON
 *   `{"start": ISO, "end": ISO, "notify": true|false}`: what the recipient would do on the page. Changes
 *   the request and, unless `notify` is false, POSTs the matching notification, signed like Cronofy signs
 *   (`Cronofy-HMAC-SHA256`, the first client secret), to the notification URL. Delivered once: the fake
 *   does not retry a failed delivery, and says so in its answer.
 * - `GET /_fake/scheduling_requests/{id}`: the request as the query would return it.
 * - Organization Connect (https://docs.cronofy.com/developers/api/organization-connect/), the fake's base URL
 *   standing in for the app host: `GET /oauth/authorize` consents at once (`302` to `redirect_uri` with `code`
 *   and `state`; `fake_consent=deny` → `error=access_denied`; each consent a new Organizational Unit `ou_…`
 *   unless `fake_ou=<id>` names one), `POST /oauth/token` (`authorization_code`, `refresh_token`; `400
 *   {"error":"invalid_grant"}` for a bad, used or expired code or a revoked refresh token; every refresh rotates
 *   the refresh token, the old one stops working; answers carry `sub`, the OU's id), `POST /oauth/token/revoke`.
 *   One authorization per OU, as Organization Connect documents it: a consent of an OU whose authorization is
 *   live gets new tokens of that same authorization, and revoking any token of it revokes it with all its
 *   tokens. Access tokens last `tokenTtlSeconds` (CRONOFY_FAKE_TOKEN_TTL_SECONDS, default 3600). A scheduling request belongs to the OU whose token created it:
 *   another OU's token (or the single-tenant credential) gets `404` for it, and the query leaves it out.
 *   Test controls: `POST /_fake/tokens/expire` (every access token, now), `POST
 *   /_fake/organizational_units/{ou}/disconnect` (revokes that OU's tokens, as an admin removing the app would),
 *   `GET /_fake/oauth` (counts: exchanges, refreshes (also per OU), revocations).
 * Both `/_fake/…` answers also carry the fake's own `state` (`pending`, `booked`, `declined`, `cancelled`), which
 * Cronofy's object shows only in part (a request declined before a time was chosen has no declined attendee).
 *
 * The shapes of a cancelled request and of 401/404/429 bodies are not documented by Cronofy; the fake's
 * choices are marked below.
 */

export interface FakeRateLimit {
  perSecond: number;
  perMinute: number;
}

export interface CronofyFakeOptions {
  /** 0 (default) for a free port; local mode passes CRONOFY_API_PORT (3100). */
  port?: number;
  /** Where notifications go (local mode: the gateway's /cronofy/notifications); none are sent without it. */
  notificationUrl?: string;
  /** The client secret notifications are signed with. */
  clientSecret: string;
  /** The bearer the API accepts; the client secret when omitted (what callers fall back to). */
  apiCredential?: string;
  /** Cronofy's limits by default; `false` turns the limit off. */
  rateLimit?: FakeRateLimit | false;
  /** Milliseconds; the rate limit's and the timestamps' clock. */
  now?: () => number;
  /** One line per change (ids and types only). */
  log?: (line: string) => void;
  /** Organization Connect's application: client id (default LOCAL_CLIENT_ID); its secret is `clientSecret`. */
  clientId?: string;
  /** How long an access token lasts (default 3600 s, as Cronofy's examples). */
  tokenTtlSeconds?: number;
}

export interface CronofyFakeStats {
  /** Every `/v1/…` request, answered or not. */
  requests: number;
  /** `429`s sent. */
  rateLimited: number;
  unauthorized: number;
  created: number;
  cancelled: number;
  /** Ids asked for, one entry per query call. */
  queryBatches: number[];
  notificationsSent: number;
  notificationsFailed: number;
  /** Organization Connect: codes exchanged, refreshes granted, revocations, token requests refused. */
  tokenExchanges: number;
  tokenRefreshes: number;
  tokenRevocations: number;
  tokenRefusals: number;
  /** Refreshes granted per Organizational Unit (a tenant's refreshes). */
  tokenRefreshesByOu: Record<string, number>;
}

export interface CronofyFake {
  url: string;
  port: number;
  stats: CronofyFakeStats;
  /** The request as the API would return it, or undefined. */
  get(id: string): Record<string, unknown> | undefined;
  /** The Organizational Unit a request belongs to (undefined: created with the single-tenant credential). */
  organizationalUnitOf(id: string): string | undefined;
  close(): Promise<void>;
}

const MAX_METADATA_LENGTH = 128;
const MAX_BODY_BYTES = 1024 * 1024;
const ACTIONS = ['time_chosen', 'rescheduled', 'declined'] as const;
type Action = (typeof ACTIONS)[number];

interface Participant {
  email: string;
  display_name: string;
  sub?: string;
  status: string;
}

interface StoredRequest {
  id: string;
  token: string;
  source: Record<string, unknown>;
  summary: string;
  durationMinutes: number;
  recipient: { email: string; display_name: string };
  host: Participant;
  /** Internal lifecycle; Cronofy's object shows it only through slot_selection and participant statuses. */
  state: 'pending' | 'booked' | 'declined' | 'cancelled';
  start?: string;
  end?: string;
  attendeeStatus: string;
  /** From the recipient's visit to the link; stored on the request when a time is chosen. */
  visitMetadata: Record<string, string>;
  metadata: Record<string, string>;
  /** The OU whose token created it; undefined for the single-tenant credential. */
  ou?: string;
}

/**
 * The application's authorization by an OU: every consent of the OU while it is live adds tokens to it, and they
 * all die together when it is revoked.
 */
interface Grant {
  ou: string;
  revoked: boolean;
}

class Problem extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`fake answered ${status}`);
  }
}

const invalid = (errors: Record<string, string>): Problem =>
  new Problem(422, {
    errors: Object.fromEntries(
      Object.entries(errors).map(([param, description]) => [
        param,
        [{ key: description.startsWith('required') ? 'errors.required' : 'errors.invalid', description }],
      ]),
    ),
  });

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const nonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';
const isoSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).byteLength;
    if (size > MAX_BODY_BYTES) throw new Problem(413, { message: 'Payload Too Large' });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer, optional = false): Record<string, unknown> {
  if (body.byteLength === 0 && optional) return {};
  try {
    const value = JSON.parse(body.toString('utf8'));
    if (isObject(value)) return value;
  } catch {
    // answered below
  }
  throw invalid({ body: 'must be a JSON object' });
}

/** The sliding-window limit Cronofy applies per application (any second, any minute). */
function slidingWindow(limit: FakeRateLimit, now: () => number) {
  const admitted: number[] = [];
  return () => {
    const at = now();
    while (admitted.length > 0 && (admitted[0] ?? 0) <= at - 60_000) admitted.shift();
    const lastSecond = admitted.filter((time) => time > at - 1000).length;
    if (lastSecond >= limit.perSecond || admitted.length >= limit.perMinute) return false;
    admitted.push(at);
    return true;
  };
}

export async function startCronofyFake(options: CronofyFakeOptions): Promise<CronofyFake> {
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const bearer = options.apiCredential ?? options.clientSecret;
  const admit =
    options.rateLimit === false
      ? () => true
      : slidingWindow(options.rateLimit ?? { perSecond: 50, perMinute: 500 }, now);
  const stats: CronofyFakeStats = {
    requests: 0,
    rateLimited: 0,
    unauthorized: 0,
    created: 0,
    cancelled: 0,
    queryBatches: [],
    notificationsSent: 0,
    notificationsFailed: 0,
    tokenExchanges: 0,
    tokenRefreshes: 0,
    tokenRevocations: 0,
    tokenRefusals: 0,
    tokenRefreshesByOu: {},
  };
  const clientId = options.clientId ?? LOCAL_CLIENT_ID;
  const tokenTtlMs = (options.tokenTtlSeconds ?? 3600) * 1000;
  const ous = new Set<string>();
  /** The live (or last) authorization of each OU. */
  const grants = new Map<string, Grant>();
  const codes = new Map<string, { ou: string; redirectUri: string; expiresAt: number }>();
  const accessTokens = new Map<string, { grant: Grant; expiresAt: number }>();
  const refreshTokens = new Map<string, Grant>();
  const requests = new Map<string, StoredRequest>();
  const byToken = new Map<string, StoredRequest>();
  let baseUrl = '';

  function toObject(stored: StoredRequest): Record<string, unknown> {
    const link = `${baseUrl}/rts/${stored.token}`;
    const operations: Record<string, string> =
      stored.state === 'pending'
        ? { view_url: link }
        : stored.state === 'booked'
          ? { view_url: link, reschedule_url: `${link}?reschedule=true`, decline_url: `${link}?decline=true` }
          : {}; // declined or cancelled (cancelled: the fake's choice; Cronofy's shape is not documented)
    const booked = stored.start !== undefined && stored.end !== undefined;
    return {
      scheduling_request_id: stored.id,
      slot_selection: booked ? 'complete' : 'pending',
      primary_select_url: link,
      dashboard_url: `${baseUrl}/scheduler/requests/${stored.id.slice(4)}`,
      summary: stored.summary,
      duration: { minutes: stored.durationMinutes },
      recipient_operations: operations,
      recipients: [{ ...stored.recipient, slot_selector: true, select_url: link }],
      ...stored.source,
      event: {
        summary: stored.summary,
        ...(booked
          ? {
              start: { time: stored.start, tzid: 'Etc/UTC' },
              end: { time: stored.end, tzid: 'Etc/UTC' },
              host: stored.host,
              attendees: [{ ...stored.recipient, status: stored.attendeeStatus }],
            }
          : {}),
        ...(Object.keys(stored.metadata).length > 0
          ? { metadata: { scheduler: { ...stored.metadata } } }
          : {}),
      },
    };
  }

  function create(body: Record<string, unknown>, ou: string | undefined): Record<string, unknown> {
    const errors: Record<string, string> = {};
    const recipients = body.recipients;
    const selector = Array.isArray(recipients)
      ? recipients.find((recipient) => isObject(recipient) && recipient.slot_selector === true)
      : undefined;
    if (!Array.isArray(recipients) || recipients.length === 0) errors.recipients = 'required';
    else if (!isObject(selector)) errors.recipients = 'must include a recipient with slot_selector true';
    else if (!nonEmptyString(selector.email) || !selector.email.includes('@'))
      errors.recipients = 'must each have an email address';

    const sources = (['template', 'host', 'host_group'] as const).filter((key) => body[key] !== undefined);
    const [kind] = sources;
    const prefix = { template: 'sgr_', host: 'acc_', host_group: 'sel_' } as const;
    if (kind === undefined) errors.host = 'required: one of template, host or host_group';
    else if (sources.length > 1) errors[kind] = `cannot be combined with ${sources.slice(1).join(', ')}`;
    else {
      const sub = isObject(body[kind]) ? (body[kind] as Record<string, unknown>).sub : undefined;
      if (!nonEmptyString(sub) || !sub.startsWith(prefix[kind]))
        errors[`${kind}.sub`] = `must be a ${prefix[kind]}… id`;
    }
    const event = isObject(body.event) ? body.event : {};
    const duration = isObject(body.duration) ? body.duration.minutes : undefined;
    if (kind !== 'template') {
      if (!nonEmptyString(event.summary)) errors['event.summary'] = 'required';
      if (typeof duration !== 'number' || !Number.isInteger(duration) || duration < 1)
        errors['duration.minutes'] = 'required: a whole number of minutes';
    }
    if (Object.keys(errors).length > 0 || kind === undefined || !isObject(selector)) throw invalid(errors);

    const hex = randomBytes(12).toString('hex');
    const sub = String((body[kind] as Record<string, unknown>).sub);
    const stored: StoredRequest = {
      id: `srq_${hex}`,
      token: randomBytes(6).toString('base64url'),
      source: { [kind]: { sub } },
      summary: kind === 'template' ? 'Interview' : String(event.summary),
      durationMinutes: kind === 'template' ? 30 : Number(duration),
      recipient: { email: String(selector.email), display_name: String(selector.display_name ?? '') },
      host: {
        email: 'host@fake-cronofy.invalid',
        display_name: 'Fake Host',
        sub: kind === 'host' ? sub : 'acc_fakehost0000000000000000',
        status: 'needs_action',
      },
      state: 'pending',
      attendeeStatus: 'needs_action',
      visitMetadata: {},
      metadata: {},
      ...(ou === undefined ? {} : { ou }),
    };
    requests.set(stored.id, stored);
    byToken.set(stored.token, stored);
    stats.created++;
    log(`created ${stored.id} (${kind})`);
    return { scheduling_request: toObject(stored) };
  }

  function query(body: Record<string, unknown>, ou: string | undefined): Record<string, unknown> {
    const ids = body.scheduling_request_ids;
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every(nonEmptyString)) {
      throw invalid({ scheduling_request_ids: 'required: a list of scheduling request ids' });
    }
    stats.queryBatches.push(ids.length);
    // Unknown ids are left out (Cronofy's behaviour for them is not documented).
    const found = ids
      .map((id) => requests.get(id))
      .filter((stored) => stored !== undefined && stored.ou === ou) as StoredRequest[];
    return { scheduling_requests: found.map((stored) => ({ scheduling_request: toObject(stored) })) };
  }

  function cancel(body: Record<string, unknown>, ou: string | undefined): void {
    const id = body.scheduling_request_id;
    if (!nonEmptyString(id)) throw invalid({ scheduling_request_id: 'required' });
    const stored = requests.get(id);
    // Another OU's request is as unknown as one that does not exist.
    if (!stored || stored.ou !== ou) throw new Problem(404, {});
    if (stored.state !== 'cancelled') {
      stored.state = 'cancelled';
      stats.cancelled++;
      log(`cancelled ${id}`);
    }
  }

  function visit(token: string, search: URLSearchParams): boolean {
    const stored = byToken.get(token);
    if (!stored) return false;
    for (const key of METADATA_KEYS) {
      const value = search.get(key);
      if (value !== null && value.length <= MAX_METADATA_LENGTH) stored.visitMetadata[key] = value;
    }
    return true;
  }

  function times(body: Record<string, unknown>, fallbackStart: number, minutes: number) {
    const start = body.start === undefined ? fallbackStart : Date.parse(String(body.start));
    const end = body.end === undefined ? start + minutes * 60_000 : Date.parse(String(body.end));
    if (Number.isNaN(start) || Number.isNaN(end) || end <= start) {
      throw new Problem(400, { message: 'start and end must be ISO 8601 times, end after start' });
    }
    return { start: isoSeconds(start), end: isoSeconds(end) };
  }

  function act(stored: StoredRequest, action: Action, body: Record<string, unknown>): void {
    const conflict = (message: string) => new Problem(409, { message });
    if (stored.state === 'cancelled') throw conflict('the scheduling request is cancelled');
    if (action === 'time_chosen') {
      if (stored.state !== 'pending') throw conflict('a time was already chosen or the request declined');
      // Tomorrow at the next whole hour unless told otherwise.
      const hour = 3_600_000;
      Object.assign(
        stored,
        times(body, Math.ceil((now() + 24 * hour) / hour) * hour, stored.durationMinutes),
      );
      stored.metadata = { ...stored.visitMetadata };
      stored.state = 'booked';
      stored.attendeeStatus = 'accepted';
      stored.host.status = 'accepted';
    } else if (action === 'rescheduled') {
      if (stored.state !== 'booked') throw conflict('no time has been chosen yet');
      const previous = Date.parse(stored.start ?? '');
      Object.assign(stored, times(body, previous + 24 * 3_600_000, stored.durationMinutes));
    } else {
      if (stored.state === 'declined') throw conflict('already declined');
      stored.state = 'declined';
      stored.attendeeStatus = 'declined';
    }
    log(`${action} ${stored.id}`);
  }

  async function notify(stored: StoredRequest, action: Action) {
    if (!options.notificationUrl) return { sent: false, error: 'no notification URL configured' };
    const body = JSON.stringify({
      notification: { type: `scheduling_request_${action}`, triggered_at: isoSeconds(now()) },
      user: { tzid: 'Etc/UTC' },
      scheduling_request: toObject(stored),
    });
    try {
      const response = await fetch(options.notificationUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'cronofy-hmac-sha256': signBody(body, options.clientSecret),
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      await response.arrayBuffer();
      const sent = response.status >= 200 && response.status < 300;
      if (sent) stats.notificationsSent++;
      else stats.notificationsFailed++;
      return { sent, status: response.status };
    } catch (error) {
      stats.notificationsFailed++;
      return { sent: false, error: (error as Error).name };
    }
  }

  /** Who calls: `single` (the single-tenant credential), an OU (its access token), or nobody (401). */
  function caller(request: IncomingMessage): { ou: string | undefined } | undefined {
    const header = request.headers.authorization ?? '';
    if (header === `Bearer ${bearer}`) return { ou: undefined };
    const token = accessTokens.get(header.replace(/^Bearer /, ''));
    if (!token || token.grant.revoked || token.expiresAt <= now()) return undefined;
    return { ou: token.grant.ou };
  }

  function newToken(prefix: string): string {
    return `${prefix}${randomBytes(24).toString('base64url')}`;
  }

  function issue(grant: Grant): Record<string, unknown> {
    const accessToken = newToken('fake_at_');
    const refreshToken = newToken('fake_rt_');
    accessTokens.set(accessToken, { grant, expiresAt: now() + tokenTtlMs });
    refreshTokens.set(refreshToken, grant);
    return {
      token_type: 'bearer',
      access_token: accessToken,
      expires_in: Math.round(tokenTtlMs / 1000),
      refresh_token: refreshToken,
      scope: 'organizational_unit_scheduler',
      sub: grant.ou,
    };
  }

  /** `GET /oauth/authorize`: consent at once, or refuse with `fake_consent=deny`. */
  function authorize(search: URLSearchParams): [number, unknown, Record<string, string>?] {
    const redirectUri = search.get('redirect_uri') ?? '';
    let target: URL;
    try {
      target = new URL(redirectUri);
      if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error('scheme');
    } catch {
      return [400, 'redirect_uri must be an absolute http(s) URL'];
    }
    if (search.get('client_id') !== clientId) return [400, 'unknown client_id'];
    if (search.get('response_type') !== 'code') return [400, 'response_type must be code'];
    if (search.get('scope') !== 'organizational_unit_scheduler')
      return [400, 'scope must be organizational_unit_scheduler'];
    const state = search.get('state');
    if (state !== null) target.searchParams.set('state', state);
    if (search.get('fake_consent') === 'deny') {
      target.searchParams.set('error', 'access_denied');
      log('consent denied');
      return [302, '', { location: target.toString() }];
    }
    const named = search.get('fake_ou');
    if (named !== null && !ous.has(named)) return [400, 'fake_ou names no organizational unit'];
    const ou = named ?? `ou_${randomBytes(8).toString('hex')}`;
    ous.add(ou);
    const code = newToken('fake_code_');
    codes.set(code, { ou, redirectUri, expiresAt: now() + 10 * 60_000 });
    target.searchParams.set('code', code);
    log(`consent given by ${ou}`);
    return [302, '', { location: target.toString() }];
  }

  /** JSON or form-encoded, as Cronofy accepts both. */
  function fields(request: IncomingMessage, body: Buffer): Record<string, string> {
    const text = body.toString('utf8');
    if ((request.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded'))
      return Object.fromEntries(new URLSearchParams(text));
    const value = parseJson(body, true);
    return Object.fromEntries(
      Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
    );
  }

  const invalidGrant = (): [number, unknown] => {
    stats.tokenRefusals++;
    return [400, { error: 'invalid_grant', error_description: 'The grant is invalid, used or revoked' }];
  };

  function token(values: Record<string, string>): [number, unknown] {
    if (values.client_id !== clientId || values.client_secret !== options.clientSecret) {
      stats.tokenRefusals++;
      return [401, { error: 'invalid_client' }];
    }
    if (values.grant_type === 'authorization_code') {
      const entry = codes.get(values.code ?? '');
      // A code works once, whatever happens next.
      codes.delete(values.code ?? '');
      if (!entry || entry.expiresAt <= now() || entry.redirectUri !== values.redirect_uri)
        return invalidGrant();
      // The OU's live authorization, else a new one.
      let grant = grants.get(entry.ou);
      if (!grant || grant.revoked) {
        grant = { ou: entry.ou, revoked: false };
        grants.set(entry.ou, grant);
      }
      stats.tokenExchanges++;
      log(`code exchanged for ${entry.ou}`);
      return [200, issue(grant)];
    }
    if (values.grant_type === 'refresh_token') {
      const grant = refreshTokens.get(values.refresh_token ?? '');
      if (!grant || grant.revoked) return invalidGrant();
      // Rotated: the old refresh token stops working, so a second refresh with it is refused.
      refreshTokens.delete(values.refresh_token ?? '');
      stats.tokenRefreshes++;
      stats.tokenRefreshesByOu[grant.ou] = (stats.tokenRefreshesByOu[grant.ou] ?? 0) + 1;
      log(`token refreshed for ${grant.ou}`);
      return [200, issue(grant)];
    }
    return [400, { error: 'unsupported_grant_type' }];
  }

  function revoke(values: Record<string, string>): [number, unknown] {
    if (values.client_id !== clientId || values.client_secret !== options.clientSecret)
      return [401, { error: 'invalid_client' }];
    const value = values.token ?? '';
    const grant = refreshTokens.get(value) ?? accessTokens.get(value)?.grant;
    if (grant) {
      grant.revoked = true;
      stats.tokenRevocations++;
      log(`authorization of ${grant.ou} revoked`);
    }
    return [200, undefined];
  }

  async function route(
    request: IncomingMessage,
    url: URL,
  ): Promise<[number, unknown, Record<string, string>?]> {
    const method = request.method ?? 'GET';
    const path = url.pathname;
    if (method === 'GET' && path === '/healthz') return [200, { status: 'ok' }];

    if (method === 'GET' && path === '/oauth/authorize') return authorize(url.searchParams);
    if (method === 'POST' && path === '/oauth/token') return token(fields(request, await readBody(request)));
    if (method === 'POST' && path === '/oauth/token/revoke')
      return revoke(fields(request, await readBody(request)));
    if (method === 'POST' && path === '/_fake/tokens/expire') {
      for (const entry of accessTokens.values()) entry.expiresAt = Math.min(entry.expiresAt, now());
      return [200, { expired: accessTokens.size }];
    }
    const disconnect = /^\/_fake\/organizational_units\/([^/]+)\/disconnect$/.exec(path);
    if (method === 'POST' && disconnect) {
      const ou = decodeURIComponent(disconnect[1] ?? '');
      if (!ous.has(ou)) return [404, { message: 'unknown organizational unit' }];
      for (const grant of [
        ...refreshTokens.values(),
        ...[...accessTokens.values()].map((entry) => entry.grant),
      ])
        if (grant.ou === ou) grant.revoked = true;
      log(`${ou} disconnected the application`);
      return [200, { organizational_unit: ou, disconnected: true }];
    }
    if (method === 'GET' && path === '/_fake/oauth') {
      const { tokenExchanges, tokenRefreshes, tokenRevocations, tokenRefusals, tokenRefreshesByOu } = stats;
      return [200, { tokenExchanges, tokenRefreshes, tokenRevocations, tokenRefusals, tokenRefreshesByOu }];
    }

    if (path.startsWith('/v1/')) {
      stats.requests++;
      const who = caller(request);
      if (!who) {
        stats.unauthorized++;
        return [401, {}]; // body not documented by Cronofy
      }
      if (!admit()) {
        stats.rateLimited++;
        return [429, {}]; // body and Retry-After not documented by Cronofy
      }
      if (method !== 'POST') return [404, {}];
      const body = parseJson(await readBody(request));
      if (path === '/v1/scheduling_requests') return [200, create(body, who.ou)];
      if (path === '/v1/scheduling_requests/query') return [200, query(body, who.ou)];
      if (path === '/v1/scheduling_requests/cancel') {
        cancel(body, who.ou);
        return [202, undefined];
      }
      return [404, {}];
    }

    const link = /^\/rts\/([A-Za-z0-9_-]+)$/.exec(path);
    if (method === 'GET' && link) {
      return visit(link[1] ?? '', url.searchParams)
        ? [200, 'Fake Cronofy scheduler: choose a time with POST /_fake/scheduling_requests/{id}/time_chosen']
        : [404, 'Not Found'];
    }

    const dashboard = /^\/scheduler\/requests\/([A-Za-z0-9_-]+)$/.exec(path);
    if (method === 'GET' && dashboard) {
      const stored = requests.get(`srq_${dashboard[1]}`);
      return stored
        ? [
            200,
            `Fake Cronofy dashboard: ${stored.id} is ${stored.state}. JSON: GET /_fake/scheduling_requests/${stored.id}`,
          ]
        : [404, 'Not Found'];
    }

    const control = /^\/_fake\/scheduling_requests\/([^/]+)(?:\/([a-z_]+))?$/.exec(path);
    if (control) {
      const stored = requests.get(decodeURIComponent(control[1] ?? ''));
      if (!stored) return [404, { message: 'unknown scheduling request' }];
      const action = control[2];
      if (action === undefined && method === 'GET')
        return [
          200,
          {
            scheduling_request: toObject(stored),
            state: stored.state,
            organizational_unit: stored.ou ?? null,
          },
        ];
      if (method !== 'POST' || !ACTIONS.includes(action as Action)) return [404, { message: 'Not Found' }];
      const body = parseJson(await readBody(request), true);
      if (body.notify !== undefined && typeof body.notify !== 'boolean') {
        return [400, { message: 'notify must be true or false' }];
      }
      act(stored, action as Action, body);
      const notification = body.notify === false ? undefined : await notify(stored, action as Action);
      return [
        200,
        {
          scheduling_request: toObject(stored),
          state: stored.state,
          ...(notification ? { notification } : {}),
        },
      ];
    }
    return [404, { message: 'Not Found' }];
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let status: number;
    let body: unknown;
    let headers: Record<string, string> | undefined;
    try {
      [status, body, headers] = await route(request, new URL(request.url ?? '/', 'http://127.0.0.1'));
    } catch (error) {
      [status, body] =
        error instanceof Problem ? [error.status, error.body] : [500, { message: 'fake failed' }];
    }
    request.resume();
    if (headers) {
      response.writeHead(status, headers).end(typeof body === 'string' ? body : '');
    } else if (body === undefined) {
      response.writeHead(status).end();
    } else if (typeof body === 'string') {
      response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
    } else {
      response
        .writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
        .end(JSON.stringify(body));
    }
  }

  const server = createServer((request, response) => void handle(request, response));
  // Longer than any client keeps an idle connection, so a client never reuses one the fake is closing
  // (with Node's 5 s default, a busy machine's clients met ECONNRESET).
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://127.0.0.1:${port}`;

  return {
    url: baseUrl,
    port,
    stats,
    get: (id) => {
      const stored = requests.get(id);
      return stored ? toObject(stored) : undefined;
    },
    organizationalUnitOf: (id) => requests.get(id)?.ou,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
