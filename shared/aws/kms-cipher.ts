import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Cipher, CipherContext } from '../core/ports.ts';
import { awsJsonCall } from './aws-json.ts';

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

/** KMS's JSON API (the project carries no KMS SDK client; these two calls are all it needs). */
export interface KmsCalls {
  call(action: 'Encrypt' | 'Decrypt', body: Record<string, unknown>): Promise<Record<string, unknown>>;
}

export class KmsError extends Error {
  override readonly name = 'KmsError';
}

/** KMS of `region` over HTTPS, with the default credential chain (the function's role in Lambda). */
export function kmsCalls(region: string, options: { timeoutMs?: number; endpoint?: string } = {}): KmsCalls {
  const call = awsJsonCall({
    service: 'kms',
    region,
    targetPrefix: 'TrentService',
    contentType: 'application/x-amz-json-1.1',
    ...options,
  });
  return {
    async call(action, body) {
      try {
        return await call(action, body);
      } catch (error) {
        // The error type only (e.g. InvalidCiphertextException): KMS's messages never hold the plaintext.
        throw new KmsError(`KMS ${action} failed: ${(error as Error).message}`);
      }
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
