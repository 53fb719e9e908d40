import { createHash, createHmac } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, Checksum, SourceData } from '@smithy/types';

/**
 * One call of an AWS JSON-protocol API (KMS, DynamoDB), signed with SigV4: for the few calls where a whole SDK
 * client would cost more bundle (cold start) than it gives. The signer and the credential chain are the ones
 * every SDK client of the bundle already carries. Errors name the status and AWS's error type, never a body.
 */

class NodeSha256 implements Checksum {
  private hash;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }
  private fresh() {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(this.secret));
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data as ArrayBuffer);
}

export interface AwsJsonOptions {
  service: string;
  region: string;
  /** `X-Amz-Target` is `<targetPrefix>.<action>` (`TrentService`, `DynamoDB_20120810`). */
  targetPrefix: string;
  contentType: 'application/x-amz-json-1.0' | 'application/x-amz-json-1.1';
  /** Default `https://<service>.<region>.amazonaws.com/`; local emulators override it. */
  endpoint?: string;
  /** Default: the SDK's credential chain (the function's role in Lambda). */
  credentials?: AwsCredentialIdentity;
  timeoutMs?: number;
}

export type AwsJsonCall = (action: string, body: Record<string, unknown>) => Promise<Record<string, unknown>>;

export function awsJsonCall(options: AwsJsonOptions): AwsJsonCall {
  const signer = new SignatureV4({
    credentials: options.credentials ?? defaultProvider(),
    region: options.region,
    service: options.service,
    sha256: NodeSha256,
  });
  const endpoint = new URL(options.endpoint ?? `https://${options.service}.${options.region}.amazonaws.com/`);
  return async (action, body) => {
    const payload = JSON.stringify(body);
    const signed = await signer.sign({
      method: 'POST',
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
      path: endpoint.pathname,
      headers: {
        host: endpoint.host,
        'content-type': options.contentType,
        'x-amz-target': `${options.targetPrefix}.${action}`,
      },
      body: payload,
    });
    let response: Response;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        headers: signed.headers,
        body: payload,
        signal: AbortSignal.timeout(options.timeoutMs ?? 3_000),
      });
    } catch (error) {
      throw new Error(`unreachable (${(error as Error).name})`);
    }
    const text = await response.text();
    if (response.status !== 200) {
      let type = 'unknown';
      try {
        type =
          String((JSON.parse(text) as { __type?: string }).__type ?? 'unknown')
            .split('#')
            .pop() ?? type;
      } catch {
        // not JSON
      }
      throw new Error(`${response.status} ${type}`);
    }
    return JSON.parse(text) as Record<string, unknown>;
  };
}
