import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { LocalAesCipher } from '#shared/aws/kms-cipher.ts';
import { DynamoTenantStore } from '#shared/aws/tenant-store.ts';

/**
 * What the tenants table adapter makes of a transaction DynamoDB cancels because another transaction on the same
 * items was in progress (`TransactionConflict`, which the SDK does not retry): for a conditional offboarding or
 * connection it is the credential moving under it (false: read again), not a failure, or a concurrent DELETE or
 * callback would offboard without revoking, or give a consent back, for a collision of milliseconds.
 */

function conflict() {
  return new TransactionCanceledException({
    message: 'Transaction cancelled, please refer cancellation reasons for specific reasons',
    $metadata: {},
    CancellationReasons: [{ Code: 'TransactionConflict' }, { Code: 'None' }],
  });
}

function store() {
  const client = {
    send: async () => {
      throw conflict();
    },
  };
  return new DynamoTenantStore(client as never, 'tenants', new LocalAesCipher());
}

const NOW = '2026-03-01T10:00:00.000Z';
const TOKENS = { accessToken: 'at', refreshToken: 'rt', expiresAt: Date.parse(NOW) + 3_600_000 };

describe('DynamoTenantStore under a transaction conflict', () => {
  it('a conditional offboarding answers false (read again); an unconditional one fails', async () => {
    await expect(store().offboard('acme', NOW, { generation: 7 })).resolves.toBe(false);
    await expect(store().offboard('acme', NOW)).rejects.toBeInstanceOf(TransactionCanceledException);
  });

  it('a connection conditional on the credential read answers false (read again); an unconditional one fails', async () => {
    await expect(store().connect('acme', TOKENS, NOW, { expected: { generation: 7 } })).resolves.toBe(false);
    await expect(store().connect('acme', TOKENS, NOW)).rejects.toBeInstanceOf(TransactionCanceledException);
  });
});
