import { METADATA_KEYS } from '../contract/keys.ts';
import type { RedirectRecord } from '../contract/records.ts';
import { LINK_STEPS, type LinkStep, type PublicConfig } from '../core/config.ts';
import type { Clock, Logger, RedirectStore } from '../core/ports.ts';
import { redirectDestination } from './links.ts';
import { allowedMetadata, parseQuery, pathSegment } from './query.ts';

/**
 * `GET /redirects/{step}`: a Scheduler Workflow Redirect action lands here. The visit is recorded as a
 * `redirect` item, and the recipient goes on to the URL configured for the step (./links.ts builds it).
 */

export interface RedirectDeps {
  config: Pick<PublicConfig, 'redirects'>;
  store: RedirectStore;
  clock: Clock;
  logger: Logger;
}

const REDIRECT_PARAMS = ['scheduling_request_id', ...METADATA_KEYS] as const;

function isLinkStep(value: string): value is LinkStep {
  return (LINK_STEPS as readonly string[]).includes(value);
}

/** Where the recipient goes next, or undefined when the step is unknown or has no destination configured. */
export async function followRedirect(
  request: { step: string | undefined; rawQuery: string | undefined },
  deps: RedirectDeps,
): Promise<string | undefined> {
  const step = pathSegment(request.step);
  if (step === undefined || !isLinkStep(step)) {
    deps.logger.warn('redirect refused: unknown step');
    return undefined;
  }
  const base = deps.config.redirects[step];
  if (base === undefined) {
    deps.logger.warn('redirect refused: no destination configured', { step });
    return undefined;
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
  return redirectDestination(base, schedulingRequestId, metadata);
}
