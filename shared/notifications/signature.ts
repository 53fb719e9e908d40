import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Cronofy signs every callback with `Cronofy-HMAC-SHA256: Base64(HmacSHA256(body_bytes, CLIENT_SECRET))`.
 * While a client secret is being rotated the header carries one value per active secret, comma-separated.
 * We accept when any value matches any configured secret, comparing digests in constant time.
 */

const DIGEST_BYTES = 32;

export function signBody(body: Uint8Array | string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('base64');
}

/** Decode one header value to its 32 digest bytes, or undefined when it cannot be one. */
function decodeSignature(value: string): Buffer | undefined {
  const trimmed = value.trim();
  // Standard Base64 of 32 bytes is 44 characters ending in a single '='.
  if (!/^[A-Za-z0-9+/]{43}=$/.test(trimmed)) return undefined;
  const bytes = Buffer.from(trimmed, 'base64');
  return bytes.length === DIGEST_BYTES ? bytes : undefined;
}

/** Whether any value of the header could be a signature at all (Base64 of 32 bytes): no secret is needed to tell. */
export function hasSignatureShape(header: string): boolean {
  return header.split(',').some((value) => decodeSignature(value) !== undefined);
}

export function verifySignature(
  body: Uint8Array,
  header: string | undefined,
  secrets: readonly string[],
): boolean {
  if (!header || secrets.length === 0) return false;
  const candidates = header
    .split(',')
    .map(decodeSignature)
    .filter((value): value is Buffer => value !== undefined);
  if (candidates.length === 0) return false;

  let matched = false;
  // Every secret is checked against every candidate (no early exit), so the time taken does not reveal
  // which secret or which value matched, nor how much of a value was right.
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(body).digest();
    for (const candidate of candidates) {
      if (timingSafeEqual(expected, candidate)) matched = true;
    }
  }
  return matched;
}
