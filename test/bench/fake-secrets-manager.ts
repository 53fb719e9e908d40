import { createServer } from 'node:http';

/**
 * A loopback stand-in for Secrets Manager's GetSecretValue (awsJson1_1), so the real ingest bundle can
 * answer its first request in the cold-start measurement: reading the secret is part of its cold path.
 */
export async function startFakeSecretsManager(
  secretString: string,
): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      response.end(
        JSON.stringify({
          ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:cronofy-bench',
          Name: 'cronofy-bench',
          VersionId: '00000000-0000-0000-0000-000000000000',
          SecretString: secretString,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
