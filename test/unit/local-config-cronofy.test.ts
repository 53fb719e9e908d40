import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLocalConfig } from '../../infra/config.ts';
import { localCronofyApiUrl } from '../../infra/local-mode.ts';

/** Local mode's Cronofy plumbing: the credential the handlers send and the fake accepts, and where the fake is. */

function cdkJson(local: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'cdk-json-'));
  const path = join(dir, 'cdk.json');
  writeFileSync(
    path,
    JSON.stringify({
      context: {
        cronofy: {
          dataCenter: 'us',
          ...extra,
          local: { clientSecrets: ['CRN_file'], embedPublicKey: 'EMB_f', embedSecret: 'ESK_f', ...local },
        },
      },
    }),
  );
  return path;
}

describe('local Cronofy credential and URL', () => {
  it('takes cronofy.local.apiCredential, overridden by CRONOFY_API_CREDENTIAL; absent means the first client secret', () => {
    expect(loadLocalConfig({}, cdkJson({})).secrets.apiCredential).toBeUndefined();
    expect(loadLocalConfig({}, cdkJson({ apiCredential: 'CRN_api_file' })).secrets.apiCredential).toBe(
      'CRN_api_file',
    );
    expect(
      loadLocalConfig({ CRONOFY_API_CREDENTIAL: 'CRN_api_env' }, cdkJson({ apiCredential: 'CRN_api_file' }))
        .secrets.apiCredential,
    ).toBe('CRN_api_env');
  });

  it('ignores the deployment-only keys a user sets before deploying (secretArn, alarmEmails)', () => {
    const path = cdkJson(
      {},
      {
        secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cronofy-AbCdEf',
        alarmEmails: ['ops@example.com'],
      },
    );
    expect(loadLocalConfig({}, path).config.dataCenter).toBe('us');
    expect(() => loadLocalConfig({}, cdkJson({}, { unknownKey: 1 }))).toThrow('unknownKey');
  });

  it('lays the environment variables of the configuration contract over cdk.json, naming a bad one', () => {
    const local = loadLocalConfig(
      {
        CRONOFY_CLIENT_SECRETS: ' CRN_new , CRN_old ',
        CRONOFY_EMBED_PUBLIC_KEY: 'EMB_env',
        CRONOFY_EMBED_SECRET: 'ESK_env',
        CRONOFY_DATA_CENTER: 'de',
        CRONOFY_REDIRECTS: '{"declined":"https://ats.example.com/declined"}',
        CRONOFY_PUBLIC_LINKS: '{"onsite":"ABC-123"}',
      },
      cdkJson({}, { redirects: { time_chosen: 'https://file.example.com/t' }, publicLinks: { file: 'F-1' } }),
    );
    expect(local.secrets).toMatchObject({
      clientSecrets: ['CRN_new', 'CRN_old'],
      embedPublicKey: 'EMB_env',
      embedSecret: 'ESK_env',
    });
    expect(local.config.dataCenter).toBe('de');
    // A JSON object replaces the file's map whole: nothing of cdk.json's is merged in.
    expect(local.config.redirects).toEqual({ declined: 'https://ats.example.com/declined' });
    expect(local.config.publicLinks).toEqual({ onsite: 'ABC-123' });
    expect(() => loadLocalConfig({ CRONOFY_REDIRECTS: 'not json' }, cdkJson({}))).toThrow(
      'CRONOFY_REDIRECTS',
    );
    expect(() =>
      loadLocalConfig({ CRONOFY_PUBLIC_LINKS: '{"x":"ok"}', CRONOFY_DATA_CENTER: 'eu' }, cdkJson({})),
    ).toThrow('CRONOFY_DATA_CENTER');
  });

  it('refuses an empty cronofy.local.apiCredential, naming the key', () => {
    expect(() => loadLocalConfig({}, cdkJson({ apiCredential: '' }))).toThrow('cronofy.local.apiCredential');
  });

  it('finds the fake at CRONOFY_API_URL, else on CRONOFY_API_PORT (3100)', () => {
    expect(localCronofyApiUrl({})).toBe('http://127.0.0.1:3100');
    expect(localCronofyApiUrl({ CRONOFY_API_PORT: '3200' })).toBe('http://127.0.0.1:3200');
    expect(localCronofyApiUrl({ CRONOFY_API_URL: 'http://127.0.0.1:9999' })).toBe('http://127.0.0.1:9999');
  });
});
