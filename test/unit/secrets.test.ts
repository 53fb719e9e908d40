import { describe, expect, it } from 'vitest';
import { parseSecretDocument, SecretsManagerSecrets, SecretsUnavailableError } from '#shared/aws/secrets.ts';

const doc = (clientSecrets: string[]) =>
  JSON.stringify({ client_secrets: clientSecrets, embed_public_key: 'EMB_pub', embed_secret: 'ESK_secret' });

function fakeClient(answers: (string | Error)[]) {
  const calls: unknown[] = [];
  return {
    calls,
    send: async (command: unknown) => {
      calls.push(command);
      const next = answers.shift();
      if (next instanceof Error) throw next;
      return { SecretString: next };
    },
  };
}

describe('Secrets Manager secrets', () => {
  it('reads once, serves from cache, and picks up a rotation after the TTL', async () => {
    let now = 0;
    const client = fakeClient([doc(['CRN_old']), doc(['CRN_old', 'CRN_new'])]);
    const secrets = new SecretsManagerSecrets(client as never, 'arn:secret', 300_000, () => now);
    expect((await secrets.get()).clientSecrets).toEqual(['CRN_old']);
    now = 299_999;
    expect((await secrets.get()).clientSecrets).toEqual(['CRN_old']);
    expect(client.calls).toHaveLength(1);
    now = 300_001;
    expect(await secrets.get()).toEqual({
      clientSecrets: ['CRN_old', 'CRN_new'],
      embedPublicKey: 'EMB_pub',
      embedSecret: 'ESK_secret',
    });
    expect(client.calls).toHaveLength(2);
  });

  it('shares one read between concurrent callers and does not cache a failure', async () => {
    const client = fakeClient([
      Object.assign(new Error('x'), { name: 'ThrottlingException' }),
      doc(['CRN_a']),
    ]);
    const secrets = new SecretsManagerSecrets(client as never, 'arn:secret', 60_000);
    const [a, b] = await Promise.allSettled([secrets.get(), secrets.get()]);
    expect(a.status).toBe('rejected');
    expect(b.status).toBe('rejected');
    expect(client.calls).toHaveLength(1);
    expect((await secrets.get()).clientSecrets).toEqual(['CRN_a']);
  });

  it('rejects a malformed document without echoing its value', () => {
    for (const text of [
      'not json',
      '{}',
      JSON.stringify({ client_secrets: [], embed_public_key: 'E', embed_secret: 'S' }),
      JSON.stringify({ client_secrets: ['CRN_leak'], embed_public_key: 'E' }),
    ]) {
      expect(() => parseSecretDocument(text)).toThrow(SecretsUnavailableError);
      try {
        parseSecretDocument(text);
      } catch (error) {
        expect((error as Error).message).not.toContain('CRN_leak');
      }
    }
  });
});
