import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { fromEnv } from '@aws-sdk/credential-provider-env';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { parseSecretDocument } from '#shared/aws/secrets.ts';
import type { Secrets, SecretsProvider } from '#shared/core/ports.ts';

/**
 * What-if: GetSecretValue without the Secrets Manager client. One SigV4-signed POST with the signer the SQS
 * client already bundles and the credentials Lambda puts in the environment. Same cache rule as
 * SecretsManagerSecrets (kept `ttlMs`, one read in flight, failures not cached).
 */
export class SignedSecretsManagerSecrets implements SecretsProvider {
  private cached: { value: Secrets; expires: number } | undefined;
  private inFlight: Promise<Secrets> | undefined;
  private readonly signer: SignatureV4;
  private readonly endpoint: URL;

  constructor(
    private readonly secretId: string,
    private readonly ttlMs: number,
    region = process.env.AWS_REGION ?? 'us-east-1',
  ) {
    this.signer = new SignatureV4({
      service: 'secretsmanager',
      region,
      credentials: fromEnv(),
      sha256: Sha256,
    });
    this.endpoint = new URL(
      process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? `https://secretsmanager.${region}.amazonaws.com`,
    );
  }

  get(): Promise<Secrets> {
    if (this.cached && this.cached.expires > Date.now()) return Promise.resolve(this.cached.value);
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async load(): Promise<Secrets> {
    const body = JSON.stringify({ SecretId: this.secretId });
    const signed = await this.signer.sign({
      method: 'POST',
      protocol: this.endpoint.protocol,
      hostname: this.endpoint.hostname,
      port: this.endpoint.port ? Number(this.endpoint.port) : undefined,
      path: '/',
      query: {},
      headers: {
        host: this.endpoint.host,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'secretsmanager.GetSecretValue',
      },
      body,
    });
    const text = await new Promise<string>((resolve, reject) => {
      const send = this.endpoint.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(this.endpoint, { method: 'POST', headers: signed.headers }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          data += chunk;
        });
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(data)
            : reject(new Error(`GetSecretValue answered ${res.statusCode}`)),
        );
      });
      req.once('error', reject);
      req.end(body);
    });
    const value = parseSecretDocument((JSON.parse(text) as { SecretString?: string }).SecretString);
    this.cached = { value, expires: Date.now() + this.ttlMs };
    return value;
  }
}
