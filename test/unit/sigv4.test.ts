import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { type AwsCredentials, signedHeaders } from '#shared/aws/sigv4.ts';

/** Our SigV4 (shared/aws/sigv4.ts) signs as the AWS SDK's signer does (@smithy/signature-v4, here the oracle). */

class Sha256 {
  private hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    const key =
      secret === undefined || typeof secret === 'string'
        ? secret
        : ArrayBuffer.isView(secret)
          ? new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength)
          : new Uint8Array(secret);
    this.hash = key === undefined ? createHash('sha256') : createHmac('sha256', key);
  }
  update(data: string | Uint8Array) {
    this.hash.update(data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
  reset() {}
}

async function oracle(
  url: URL,
  headers: Record<string, string>,
  body: string,
  credentials: AwsCredentials,
  now: Date,
) {
  const signer = new SignatureV4({
    service: 'events',
    region: 'eu-west-1',
    credentials,
    sha256: Sha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      headers: { ...headers, host: url.host },
      body,
    },
    { signingDate: now },
  );
  return signed.headers.authorization;
}

const NOW = new Date('2026-03-01T10:05:07.123Z');
const KEYS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

describe('signedHeaders', () => {
  it.each([
    ['without a session token', KEYS, 'https://events.eu-west-1.amazonaws.com/', '{"Entries":[]}'],
    [
      'with a session token',
      { ...KEYS, sessionToken: 'IQoJb3JpZ2luX2VjE//token+/=' },
      'https://events.eu-west-1.amazonaws.com/',
      '{"a":"b"}',
    ],
    [
      'a port, a path and a non-ASCII body',
      KEYS,
      'http://127.0.0.1:4566/events',
      '{"summary":"Entretien – café ☕"}',
    ],
  ])('%s: the same Authorization as the SDK', async (_name, credentials, href, body) => {
    const url = new URL(href);
    const headers = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' };
    const ours = signedHeaders({
      url,
      headers,
      body,
      service: 'events',
      region: 'eu-west-1',
      credentials,
      now: NOW,
    });
    expect(ours.authorization).toBe(await oracle(url, headers, body, credentials, NOW));
    expect(ours['x-amz-date']).toBe('20260301T100507Z');
    expect(ours.authorization).toContain('Credential=AKIDEXAMPLE/20260301/eu-west-1/events/aws4_request');
  });

  it('a different body, key or time changes the signature', () => {
    const input = {
      url: new URL('https://events.eu-west-1.amazonaws.com/'),
      headers: {},
      body: '{}',
      service: 'events',
      region: 'eu-west-1',
      credentials: KEYS,
      now: NOW,
    };
    const base = signedHeaders(input).authorization;
    expect(signedHeaders({ ...input, body: '{ }' }).authorization).not.toBe(base);
    expect(
      signedHeaders({ ...input, credentials: { ...KEYS, secretAccessKey: 'other' } }).authorization,
    ).not.toBe(base);
    expect(signedHeaders({ ...input, now: new Date(NOW.getTime() + 1000) }).authorization).not.toBe(base);
  });
});
