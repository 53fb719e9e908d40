import { TABLE } from '../definitions.ts';
import { DEFAULT_PORTS, LOCAL_ENV, localCronofyApiUrl, localEndpoints } from '../local-mode.ts';

/**
 * The variables another terminal needs to reach a stack started with these ports and table, e.g.
 * `PORT=3001 DYNAMODB_PORT=8001 ` (empty when everything is at its default).
 */
export function envPrefix(settings: {
  port: number;
  dynamoDbPort: number;
  sqsPort: number;
  tableName: string;
  cronofyApiPort?: number;
}): string {
  const pairs: [string, string | number, string | number][] = [
    [LOCAL_ENV.port, settings.port, DEFAULT_PORTS.PORT],
    [LOCAL_ENV.dynamoDbPort, settings.dynamoDbPort, DEFAULT_PORTS.DYNAMODB_PORT],
    [LOCAL_ENV.sqsPort, settings.sqsPort, DEFAULT_PORTS.SQS_PORT],
    [
      LOCAL_ENV.cronofyApiPort,
      settings.cronofyApiPort ?? DEFAULT_PORTS.CRONOFY_API_PORT,
      DEFAULT_PORTS.CRONOFY_API_PORT,
    ],
    [LOCAL_ENV.tableName, settings.tableName, TABLE.localName],
  ];
  return pairs
    .filter(([, value, fallback]) => value !== fallback)
    .map(([name, value]) => `${name}=${value} `)
    .join('');
}

/** The same prefix, for a command started with the variables of another terminal (what `npm run notify` got). */
export function commandPrefix(env: NodeJS.ProcessEnv): string {
  const endpoints = localEndpoints(env);
  const port = (url: string) => Number(new URL(url).port) || (url.startsWith('https:') ? 443 : 80);
  return envPrefix({
    port: port(endpoints.gateway),
    dynamoDbPort: port(endpoints.dynamodb),
    sqsPort: port(endpoints.sqs),
    tableName: endpoints.tableName,
    cronofyApiPort: port(localCronofyApiUrl(env)),
  });
}
