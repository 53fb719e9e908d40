import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { BusEntry, EventPublisher } from '../core/ports.ts';

/**
 * PutEvents over HTTPS, signed with SigV4 (@smithy/signature-v4, the signer of every AWS SDK v3 client):
 * the one EventBridge call the stream function makes, without a whole SDK client in its bundle. Credentials
 * are the function role's, from the variables Lambda sets.
 */

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface EventBridgePublisherOptions {
  busName: string;
  region: string;
  credentials: () => AwsCredentials;
  /** Default: the regional endpoint, `https://events.<region>.amazonaws.com` (`.com.cn` in China). */
  endpoint?: string;
  /** Milliseconds before a request is abandoned (the batch is then retried). */
  timeoutMs?: number;
  fetch?: typeof fetch;
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

/** The hash the signer wants (its `Checksum` interface), over node:crypto. */
class Sha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    if (this.secret === undefined) return createHash('sha256');
    const key =
      typeof this.secret === 'string'
        ? this.secret
        : ArrayBuffer.isView(this.secret)
          ? new Uint8Array(this.secret.buffer, this.secret.byteOffset, this.secret.byteLength)
          : new Uint8Array(this.secret);
    return createHmac('sha256', key);
  }
  update(data: string | Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
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
    const signer = new SignatureV4({
      service: 'events',
      region: this.options.region,
      credentials: this.options.credentials(),
      sha256: Sha256,
    });
    const signed = await signer.sign({
      method: 'POST',
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      ...(this.url.port ? { port: Number(this.url.port) } : {}),
      path: this.url.pathname,
      headers: {
        host: this.url.host,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'AWSEvents.PutEvents',
      },
      body,
    });
    const response = await (this.options.fetch ?? fetch)(this.url, {
      method: 'POST',
      headers: signed.headers,
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
