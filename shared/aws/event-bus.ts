import type { BusEntry, EventPublisher } from '../core/ports.ts';
import { type AwsCredentials, signedHeaders } from './sigv4.ts';

/**
 * PutEvents over HTTPS, signed with SigV4 (./sigv4.ts): the one EventBridge call the stream function makes,
 * without an SDK client in its bundle. Credentials are the function role's, from the variables Lambda sets.
 */

export type { AwsCredentials };

export interface EventBridgePublisherOptions {
  busName: string;
  region: string;
  credentials: () => AwsCredentials;
  /** Default: the regional endpoint, `https://events.<region>.amazonaws.com` (`.com.cn` in China). */
  endpoint?: string;
  /** Milliseconds before a request is abandoned (the batch is then retried). */
  timeoutMs?: number;
  fetch?: typeof fetch;
  clock?: () => Date;
}

/** Lambda's variables for the function role's credentials. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): AwsCredentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey)
    throw new Error('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set');
  return {
    accessKeyId,
    secretAccessKey,
    ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
  };
}

interface PutEventsAnswer {
  FailedEntryCount?: number;
  Entries?: Array<{ EventId?: string; ErrorCode?: string; ErrorMessage?: string }>;
}

export class EventBridgePublisher implements EventPublisher {
  private readonly url: URL;

  constructor(private readonly options: EventBridgePublisherOptions) {
    const suffix = options.region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
    this.url = new URL(options.endpoint ?? `https://events.${options.region}.${suffix}/`);
  }

  async put(entries: readonly BusEntry[]): Promise<Array<string | undefined>> {
    if (entries.length === 0) return [];
    const body = JSON.stringify({
      Entries: entries.map((entry) => ({
        EventBusName: this.options.busName,
        Source: entry.source,
        DetailType: entry.detailType,
        Detail: entry.detail,
        // The JSON protocol's timestamps are epoch seconds.
        Time: Date.parse(entry.time) / 1000,
      })),
    });
    const headers = signedHeaders({
      url: this.url,
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' },
      body,
      service: 'events',
      region: this.options.region,
      credentials: this.options.credentials(),
      now: (this.options.clock ?? (() => new Date()))(),
    });
    const response = await (this.options.fetch ?? fetch)(this.url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000),
    });
    const text = await response.text();
    if (!response.ok) {
      // The error's type only (`__type`), never the message: it can quote the request.
      const type = (safeJson(text) as { __type?: string } | undefined)?.__type ?? 'unknown';
      throw new Error(`PutEvents answered ${response.status} (${String(type).split('#').pop()})`);
    }
    const answer = (safeJson(text) ?? {}) as PutEventsAnswer;
    return entries.map((_, i) => {
      const result = answer.Entries?.[i];
      if (!result) return 'NoAnswer';
      return result.ErrorCode ?? (result.EventId ? undefined : 'NoEventId');
    });
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
