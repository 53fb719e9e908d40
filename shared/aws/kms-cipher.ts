import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Checksum, SourceData } from '@smithy/types';
import type { Cipher, CipherContext } from '../core/ports.ts';

/**
 * The Cipher port (shared/core/ports.ts) twice: KMS in AWS, AES-256-GCM in local mode. Both bind every
 * ciphertext to its tenant and field (KMS: the encryption context; AES-GCM: the same values as additional
 * authenticated data), so a ciphertext copied into another tenant's item, or into another field, does not
 * decrypt. Plaintexts are never logged; errors say only that decryption failed.
 */

/** Values are encrypted one by one with KMS itself (each ≤ 4 KB): no data keys to manage or cache. */
export class KmsCipher implements Cipher {
  constructor(
    private readonly kms: KmsCalls,
    private readonly keyArn: string,
  ) {}

  async encrypt(plaintext: string, context: CipherContext): Promise<string> {
    const answer = await this.kms.call('Encrypt', {
      KeyId: this.keyArn,
      Plaintext: Buffer.from(plaintext, 'utf8').toString('base64'),
      EncryptionContext: { ...context },
    });
    const blob = answer.CiphertextBlob;
    if (typeof blob !== 'string') throw new Error('KMS Encrypt answered without a ciphertext');
    return blob;
  }

  async decrypt(ciphertext: string, context: CipherContext): Promise<string> {
    // KeyId pins the key: a ciphertext of another key is refused, whatever the caller may decrypt elsewhere.
    const answer = await this.kms.call('Decrypt', {
      KeyId: this.keyArn,
      CiphertextBlob: ciphertext,
      EncryptionContext: { ...context },
    });
    const plaintext = answer.Plaintext;
    if (typeof plaintext !== 'string') throw new Error('KMS Decrypt answered without a plaintext');
    return Buffer.from(plaintext, 'base64').toString('utf8');
  }
}

/** KMS's JSON API, signed with SigV4 (the project carries no KMS SDK client; these two calls are all it needs). */
export interface KmsCalls {
  call(action: 'Encrypt' | 'Decrypt', body: Record<string, unknown>): Promise<Record<string, unknown>>;
}

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

export class KmsError extends Error {
  override readonly name = 'KmsError';
}

/** KMS of `region` over HTTPS, with the default credential chain (the function's role in Lambda). */
export function kmsCalls(region: string, options: { timeoutMs?: number; endpoint?: string } = {}): KmsCalls {
  const signer = new SignatureV4({
    credentials: defaultProvider(),
    region,
    service: 'kms',
    sha256: NodeSha256,
  });
  const endpoint = new URL(options.endpoint ?? `https://kms.${region}.amazonaws.com/`);
  return {
    async call(action, body) {
      const payload = JSON.stringify(body);
      const signed = await signer.sign({
        method: 'POST',
        protocol: endpoint.protocol,
        hostname: endpoint.hostname,
        ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
        path: endpoint.pathname,
        headers: {
          host: endpoint.host,
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': `TrentService.${action}`,
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
        throw new KmsError(`KMS ${action} unreachable (${(error as Error).name})`);
      }
      const text = await response.text();
      if (response.status !== 200) {
        // The error type only (e.g. InvalidCiphertextException): KMS's messages never hold the plaintext.
        let type = 'unknown';
        try {
          type = String((JSON.parse(text) as { __type?: string }).__type ?? 'unknown');
        } catch {
          // not JSON
        }
        throw new KmsError(`KMS ${action} failed: ${response.status} ${type}`);
      }
      return JSON.parse(text) as Record<string, unknown>;
    },
  };
}

/**
 * Local mode's stand-in for KMS: AES-256-GCM with a random 96-bit IV per value and the context as additional
 * authenticated data. Format: `v1.{iv}.{tag}.{ciphertext}`, base64url parts.
 */
export class LocalAesCipher implements Cipher {
  private readonly key: Buffer;

  /** `key`: 32 bytes (cronofy.local.tenantsKey); a random key for this process when omitted. */
  constructor(key?: Uint8Array) {
    this.key = key === undefined ? randomBytes(32) : Buffer.from(key);
    if (this.key.byteLength !== 32) throw new RangeError('the local tenants key must be 32 bytes');
  }

  encrypt(plaintext: string, context: CipherContext): Promise<string> {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(aad(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url'));
    return Promise.resolve(`v1.${parts.join('.')}`);
  }

  decrypt(ciphertext: string, context: CipherContext): Promise<string> {
    const [version, iv, tag, body] = ciphertext.split('.');
    if (version !== 'v1' || iv === undefined || tag === undefined || body === undefined)
      return Promise.reject(new Error('not a ciphertext of this cipher'));
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(aad(context));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const plain = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]);
      return Promise.resolve(plain.toString('utf8'));
    } catch {
      return Promise.reject(new Error('decryption failed: wrong key, tenant or field, or tampered'));
    }
  }
}

/** Unambiguous: JSON of the context with its keys in a fixed order. */
function aad(context: CipherContext): Buffer {
  return Buffer.from(JSON.stringify([context.tenant_id, context.field]), 'utf8');
}
