import { METADATA_KEYS } from '../contract/keys.ts';
import { appHost, type PublicConfig } from '../core/config.ts';
import type { Clock, Logger, SecretsProvider } from '../core/ports.ts';
import { loadSecrets } from '../core/secrets.ts';
import { allowedMetadata, type Metadata, parseQuery, pathSegment } from './query.ts';
import { mintToken } from './tokens.ts';

/**
 * The URLs recipients are sent to, and `GET /links/{name}`: a link the integrator sent, launching a Cronofy
 * Public Link with a fresh claim token (https://docs.cronofy.com/developers/scheduler/public-links/).
 *
 * Open redirects are impossible by construction: every destination's scheme, host and path come from
 * configuration (or from the data center's fixed host); a request only ever contributes query *values* for a
 * fixed list of names, encoded by URLSearchParams and appended after the configured query string.
 */

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

export interface LinkDeps {
  config: Pick<PublicConfig, 'dataCenter' | 'publicLinks'>;
  secrets: SecretsProvider;
  clock: Clock;
  logger: Logger;
  newId?: () => string;
}

/**
 * `GET /links/{name}`: the Public Link URL with a fresh claim token, or undefined when the name is not
 * configured. Throws UnavailableError when the secrets are out of reach.
 */
export async function launchPublicLink(
  request: { name: string | undefined; rawQuery: string | undefined },
  deps: LinkDeps,
): Promise<string | undefined> {
  const name = pathSegment(request.name);
  const slug =
    name !== undefined && Object.hasOwn(deps.config.publicLinks, name)
      ? deps.config.publicLinks[name]
      : undefined;
  if (name === undefined || slug === undefined) {
    deps.logger.warn('public link refused: unknown name');
    return undefined;
  }
  const secrets = await loadSecrets(deps, 'temporarily unavailable');
  const metadata = allowedMetadata(parseQuery(request.rawQuery, METADATA_KEYS));
  const minted = await mintToken(secrets, { kind: 'claim' }, deps.clock, deps.newId);
  deps.logger.info('public link launched', {
    name,
    jti: minted.claims.jti,
    correlationId: metadata.correlation_id,
  });
  return publicLinkUrl(deps.config.dataCenter, slug, minted.token, metadata);
}
