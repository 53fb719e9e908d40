import { randomUUID } from 'node:crypto';
import { METADATA_KEYS } from '../contract/keys.ts';
import type { RedirectRecord } from '../contract/records.ts';
import {
  appHost,
  ConfigError,
  LINK_STEPS,
  type LinkStep,
  type PublicConfig,
  publicConfigSchema,
} from '../core/config.ts';
import { UnavailableError } from '../core/errors.ts';
import type { Clock, Logger, RedirectStore, Secrets, SecretsProvider } from '../core/ports.ts';
import { loadSecrets } from '../core/secrets.ts';
import { type HttpResult, RECIPIENT_HEADERS } from '../edge/http.ts';
import { mintToken } from './tokens.ts';

/**
 * The recipient-facing routes: `GET /redirects/{step}` (a Scheduler Workflow Redirect action lands here) and
 * `GET /links/{name}` (a link the integrator sent, launching a Cronofy Public Link with a fresh claim token).
 *
 * Open redirects are impossible by construction: every destination's scheme, host and path come from
 * configuration (or from the data center's fixed host); a request only ever contributes query *values* for a
 * fixed list of names, encoded by URLSearchParams and appended after the configured query string.
 */

export { METADATA_KEYS };
export type MetadataKey = (typeof METADATA_KEYS)[number];
export type Metadata = Partial<Record<MetadataKey, string>>;

/** Cronofy's limit for metadata values; a longer value is dropped, because a cut correlation id is wrong data. */
export const MAX_VALUE_CHARS = 128;

// C0 and C1 control characters (CR/LF included) and DEL: never part of an identifier, often part of an attack.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/** A value we are willing to forward or record: non-empty, at most 128 characters, no control characters. */
export function acceptableValue(value: string): boolean {
  // (decodeURIComponent never yields lone surrogates: it throws on them, and the parameter is dropped.)
  if (value === '' || CONTROL_CHARACTERS.test(value)) return false;
  // Characters, not UTF-16 units (an emoji is one character); checked cheaply on length first.
  return value.length <= MAX_VALUE_CHARS || [...value].length <= MAX_VALUE_CHARS;
}

/**
 * The query string as name → first value. Unlike URLSearchParams, a malformed percent-encoding makes the
 * parameter disappear instead of turning into U+FFFD (a mangled id is wrong data). Only `wanted` names are
 * decoded, so a 10 KB junk parameter costs nothing.
 */
export function parseQuery(rawQuery: string | undefined, wanted: readonly string[]): Map<string, string> {
  const values = new Map<string, string>();
  if (!rawQuery) return values;
  const seen = new Set<string>();
  for (const pair of rawQuery.split('&')) {
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    const name = decodeQueryComponent(rawName);
    if (name === undefined || !wanted.includes(name) || seen.has(name)) continue;
    // First occurrence wins, even when it is unusable: a later duplicate must not sneak a value past the checks.
    seen.add(name);
    const value = decodeQueryComponent(eq === -1 ? '' : pair.slice(eq + 1));
    if (value !== undefined && acceptableValue(value)) values.set(name, value);
  }
  return values;
}

/** application/x-www-form-urlencoded decoding (`+` is a space), strict about malformed escapes. */
function decodeQueryComponent(raw: string): string | undefined {
  return decodeStrict(raw.replaceAll('+', ' '));
}

function decodeStrict(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** The allow-listed metadata present (and acceptable) in a query string, in allow-list order. */
export function allowedMetadata(query: Map<string, string>): Metadata {
  const metadata: Metadata = {};
  for (const key of METADATA_KEYS) {
    const value = query.get(key);
    if (value !== undefined) metadata[key] = value;
  }
  return metadata;
}

/**
 * `base` with `params` appended to its query string. The configured query string is kept byte for byte and
 * wins over a forwarded parameter of the same name (a request cannot override what the integrator set);
 * the fragment, if any, stays last.
 */
export function withQuery(base: string, params: ReadonlyArray<readonly [string, string]>): string {
  const url = new URL(base);
  const configured = new URLSearchParams(url.search);
  const added = new URLSearchParams();
  for (const [name, value] of params) {
    if (!configured.has(name)) added.append(name, value);
  }
  const extra = added.toString();
  if (extra !== '') {
    const existing = url.search.replace(/^\?/, '');
    url.search = existing === '' ? extra : `${existing}&${extra}`;
  }
  return url.href;
}

/** Where `GET /redirects/{step}` sends the recipient. */
export function redirectDestination(
  base: string,
  schedulingRequestId: string | undefined,
  metadata: Metadata,
): string {
  const params: Array<[string, string]> = [];
  if (schedulingRequestId !== undefined) params.push(['scheduling_request_id', schedulingRequestId]);
  for (const [key, value] of Object.entries(metadata)) params.push([key, value]);
  return withQuery(base, params);
}

/** `https://{app host}/pls/{slug}?claim_token=…&<metadata>`. */
export function publicLinkUrl(
  dataCenter: PublicConfig['dataCenter'],
  slug: string,
  claimToken: string,
  metadata: Metadata,
): string {
  const base = `https://${appHost(dataCenter)}/pls/${encodeURIComponent(slug)}`;
  return withQuery(base, [['claim_token', claimToken], ...Object.entries(metadata)]);
}

// ---------------------------------------------------------------------------------------------------------
// Answers

/** On every recipient-facing answer (shared/edge/http.ts). */
export { RECIPIENT_HEADERS };

const HTML_HEADERS = {
  ...RECIPIENT_HEADERS,
  'content-type': 'text/html; charset=utf-8',
  'x-content-type-options': 'nosniff',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
} as const;

export function redirectTo(location: string): HttpResult {
  return { statusCode: 302, headers: { ...RECIPIENT_HEADERS, location }, body: '' };
}

export type ErrorPageStatus = 400 | 404 | 500 | 503;

/** What a person sees when a link leads nowhere. Fixed text: nothing from the request is echoed. */
const PAGES: Record<ErrorPageStatus, { title: string; message: string }> = {
  400: {
    title: 'This link is not complete',
    message:
      'The link you followed is missing something it needs. Please open it again from the message you received, or contact the person who sent it to you.',
  },
  404: {
    title: 'This link is not valid',
    message:
      'The link you followed does not lead to a page. Please check that it was copied in full from the message you received, or contact the person who sent it to you.',
  },
  500: {
    title: 'Something went wrong',
    message: 'We could not open this link. Please try again in a few minutes.',
  },
  503: {
    title: 'Temporarily unavailable',
    message: 'We could not open this link just now. Please try again in a minute.',
  },
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function errorPage(status: ErrorPageStatus): HttpResult {
  const page = PAGES[status];
  const title = escapeHtml(page.title);
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${title}</title>
<style>body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:32rem;margin:4rem auto;padding:0 1.5rem;line-height:1.5;color:#1f2933}h1{font-size:1.5rem}</style>
</head>
<body>
<h1>${title}</h1>
<p>${escapeHtml(page.message)}</p>
</body>
</html>
`;
  const headers: Record<string, string> = { ...HTML_HEADERS };
  if (status === 503) headers['retry-after'] = '30';
  return { statusCode: status, headers, body };
}

// ---------------------------------------------------------------------------------------------------------
// Use cases

/** The store port is declared in core/ports.ts (its adapter is shared/aws/redirect-store.ts). */
export type { RedirectStore } from '../core/ports.ts';

export interface RedirectDeps {
  config: PublicConfig;
  secrets: SecretsProvider;
  store: RedirectStore;
  clock: Clock;
  logger: Logger;
  newId?: () => string;
}

const REDIRECT_PARAMS = ['scheduling_request_id', ...METADATA_KEYS] as const;

/**
 * A path segment as the route received it. API Gateway may hand it over encoded or decoded; either way only an
 * exact match against configured names counts, so decoding once more can only turn junk into other junk.
 */
function segment(raw: string | undefined): string | undefined {
  return raw === undefined ? undefined : decodeStrict(raw);
}

function isLinkStep(value: string): value is LinkStep {
  return (LINK_STEPS as readonly string[]).includes(value);
}

/** `GET /redirects/{step}`. */
export async function followRedirect(
  request: { step: string | undefined; rawQuery: string | undefined },
  deps: RedirectDeps,
): Promise<HttpResult> {
  const step = segment(request.step);
  if (step === undefined || !isLinkStep(step)) {
    deps.logger.warn('redirect refused: unknown step');
    return errorPage(404);
  }
  const base = deps.config.redirects[step];
  if (base === undefined) {
    deps.logger.warn('redirect refused: no destination configured', { step });
    return errorPage(404);
  }
  const query = parseQuery(request.rawQuery, REDIRECT_PARAMS);
  // A missing id is not invented: the recipient still lands on the configured page.
  const schedulingRequestId = query.get('scheduling_request_id');
  const metadata = allowedMetadata(query);

  const record: RedirectRecord = {
    entity: 'redirect',
    step,
    ...(schedulingRequestId !== undefined ? { scheduling_request_id: schedulingRequestId } : {}),
    ...metadata,
    at: deps.clock().toISOString(),
  };
  try {
    await deps.store.putRedirect(record);
  } catch (error) {
    // The recipient must not be stranded on an error page because our table hiccupped: the Workflow's
    // callback notification still reaches the worker, so only this early signal is lost. Log and go on.
    deps.logger.error('redirect record not written', {
      step,
      schedulingRequestId,
      error: (error as Error).name,
    });
  }
  deps.logger.info('recipient redirected', {
    step,
    schedulingRequestId,
    correlationId: metadata.correlation_id,
  });
  return redirectTo(redirectDestination(base, schedulingRequestId, metadata));
}

/** `GET /links/{name}`. */
export async function launchPublicLink(
  request: { name: string | undefined; rawQuery: string | undefined },
  deps: RedirectDeps,
): Promise<HttpResult> {
  const name = segment(request.name);
  const slug =
    name !== undefined && Object.hasOwn(deps.config.publicLinks, name)
      ? deps.config.publicLinks[name]
      : undefined;
  if (name === undefined || slug === undefined) {
    deps.logger.warn('public link refused: unknown name');
    return errorPage(404);
  }
  let secrets: Secrets;
  try {
    secrets = await loadSecrets(deps, 'temporarily unavailable');
  } catch (error) {
    if (error instanceof UnavailableError) return errorPage(503);
    throw error;
  }
  const metadata = allowedMetadata(parseQuery(request.rawQuery, METADATA_KEYS));
  const minted = await mintToken(secrets, { kind: 'claim' }, deps.clock, deps.newId ?? randomUUID);
  deps.logger.info('public link launched', {
    name,
    jti: minted.claims.jti,
    correlationId: metadata.correlation_id,
  });
  return redirectTo(publicLinkUrl(deps.config.dataCenter, slug, minted.token, metadata));
}

/** Configuration from the function's environment (`CRONOFY_PUBLIC_CONFIG`), failing fast with the key at fault. */
export function parsePublicConfig(
  text: string | undefined,
  variable = 'CRONOFY_PUBLIC_CONFIG',
): PublicConfig {
  if (text === undefined || text === '') throw new ConfigError(`${variable} is not set`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ConfigError(`${variable} is not valid JSON`);
  }
  const result = publicConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    // zod/mini has no message catalogue: its default is "Invalid input", so say what was expected.
    const detail =
      issue.message !== 'Invalid input'
        ? issue.message
        : issue.code === 'unrecognized_keys'
          ? 'unknown key(s); allowed: dataCenter, redirects, publicLinks'
          : issue.code === 'invalid_type'
            ? `expected ${(issue as { expected?: string }).expected}`
            : 'invalid value';
    return `${[variable, ...issue.path.map(String)].join('.')}: ${detail}`;
  });
  throw new ConfigError(`Invalid configuration in ${variable}:\n  ${problems.join('\n  ')}`);
}
